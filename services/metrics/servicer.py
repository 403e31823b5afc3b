"""MetricsService over gRPC: requests become domain calls, results replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from services.metrics import events
from services.metrics.campaigns import Campaigns, CampaignView, campaign_status
from services.metrics.counters import Counters
from services.metrics.events import Outcome
from services.metrics.recipients import Recipients, RecipientSort, RecipientView
from services.metrics.recording import Recorder
from services.metrics.statuses import Status, Tally
from services.metrics.store import CampaignRecord
from xobito import failures
from xobito.errors import InvalidArgumentError
from xobito.ingest.v1 import events_pb2
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1 import metrics_pb2_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MetricsService"].full_name

Context = grpc.aio.ServicerContext[object, object]

_OUTCOMES = {
    Outcome.APPLIED: pb.STATUS_OUTCOME_APPLIED,
    Outcome.DUPLICATE: pb.STATUS_OUTCOME_DUPLICATE,
    Outcome.UNMATCHED: pb.STATUS_OUTCOME_UNMATCHED,
}


class MetricsServicer(metrics_pb2_grpc.MetricsServiceServicer):
    def __init__(
        self,
        campaigns: Campaigns,
        recorder: Recorder,
        recipients: Recipients,
        counters: Counters,
    ) -> None:
        self._campaigns = campaigns
        self._recorder = recorder
        self._recipients = recipients
        self._counters = counters

    # -- the campaign sender -----------------------------------------------

    async def CreateCampaign(
        self, request: pb.CreateCampaignRequest, context: Context
    ) -> pb.Campaign:
        wanted = CampaignRecord(
            id=request.campaign_id,
            workspace_id=request.workspace_id,
            name=request.name,
            phone_number_id=request.phone_number_id,
            template_name=request.template_name,
            waba_id=request.waba_id,
        )
        return _campaign(await self._campaigns.create(wanted))

    async def AddRecipients(
        self, request: pb.AddRecipientsRequest, context: Context
    ) -> pb.AddRecipientsResponse:
        recipients = [events.NewRecipient(r.phone, r.name) for r in request.recipients]
        result = await self._recorder.add_recipients(request.campaign_id, recipients)
        return pb.AddRecipientsResponse(
            added=result.added, recipient_total=result.recipient_total
        )

    async def RecordSends(
        self, request: pb.RecordSendsRequest, context: Context
    ) -> pb.RecordSendsResponse:
        sends = [
            events.Send(
                phone=send.phone,
                wamid=send.wamid,
                sent_at=_time(send.sent_at) if send.HasField("sent_at") else None,
                error_code=send.error_code,
                error_title=send.error_title,
            )
            for send in request.sends
        ]
        result = await self._recorder.record_sends(request.campaign_id, sends)
        return pb.RecordSendsResponse(
            recorded=result.recorded,
            early_statuses_applied=result.early_statuses_applied,
        )

    # -- ingest ------------------------------------------------------------

    async def ResolveRoutes(
        self, request: pb.ResolveRoutesRequest, context: Context
    ) -> pb.ResolveRoutesResponse:
        routes = await self._campaigns.resolve_routes(
            list(request.phone_number_ids), list(request.waba_ids)
        )
        return pb.ResolveRoutesResponse(
            phone_numbers=[
                pb.Route(key=key, workspace_id=workspace)
                for key, workspace in routes.phone_numbers.items()
            ],
            wabas=[
                pb.Route(key=key, workspace_id=workspace)
                for key, workspace in routes.wabas.items()
            ],
        )

    async def RecordEvents(
        self, request: pb.RecordEventsRequest, context: Context
    ) -> pb.RecordEventsResponse:
        result = await self._recorder.record_events(_event_batch(request.batch))
        return pb.RecordEventsResponse(
            status_outcomes=[_OUTCOMES[outcome] for outcome in result.outcomes],
            replies=result.replies,
        )

    # -- the gateway -------------------------------------------------------

    async def GetCampaign(
        self, request: pb.GetCampaignRequest, context: Context
    ) -> pb.Campaign:
        view = await self._campaigns.get(request.workspace_id, request.campaign_id)
        return _campaign(view)

    async def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: Context
    ) -> pb.ListCampaignsResponse:
        page = await self._campaigns.page(
            request.workspace_id, request.page_size, request.page_token
        )
        return pb.ListCampaignsResponse(
            campaigns=[_campaign(view) for view in page.campaigns],
            next_page_token=page.next_page_token,
            total_count=page.total_count,
        )

    async def ListRecipients(
        self, request: pb.ListRecipientsRequest, context: Context
    ) -> pb.ListRecipientsResponse:
        page = await self._recipients.page(
            request.workspace_id,
            request.campaign_id,
            status=_status_filter(request.status),
            search=request.search,
            sort=_sort(request.sort),
            size=request.page_size,
            token=request.page_token,
        )
        return pb.ListRecipientsResponse(
            recipients=[_recipient(view) for view in page.recipients],
            next_page_token=page.next_page_token,
            total_count=page.total_count,
        )

    async def ListFailureReasons(
        self, request: pb.ListFailureReasonsRequest, context: Context
    ) -> pb.ListFailureReasonsResponse:
        reasons = await self._recipients.failure_reasons(
            request.workspace_id, request.campaign_id
        )
        return pb.ListFailureReasonsResponse(
            reasons=[
                pb.FailureReason(
                    code=reason.code,
                    category=reason.category,
                    title=reason.title,
                    action=reason.action,
                    count=reason.count,
                )
                for reason in reasons
            ]
        )

    async def WatchCounters(
        self, request: pb.WatchCountersRequest, context: Context
    ) -> AsyncIterator[pb.CampaignCounters]:
        campaign_id = request.campaign_id
        await self._campaigns.require(request.workspace_id, campaign_id)
        async for tally in self._counters.watch(campaign_id):
            yield pb.CampaignCounters(
                campaign_id=campaign_id,
                recipient_total=tally.recipient_total,
                status=pb.CampaignStatus.ValueType(campaign_status(tally).value),
                counters=_counters(tally),
            )


# -- replies -------------------------------------------------------------


def _timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


def _counters(tally: Tally) -> pb.Counters:
    return pb.Counters(
        sent=tally.sent,
        delivered=tally.delivered,
        read=tally.read,
        failed=tally.failed,
        replied=tally.replied,
        opted_out=tally.opted_out,
    )


def _campaign(view: CampaignView) -> pb.Campaign:
    record = view.record
    return pb.Campaign(
        id=record.id,
        workspace_id=record.workspace_id,
        name=record.name,
        phone_number_id=record.phone_number_id,
        waba_id=record.waba_id,
        template_name=record.template_name,
        status=pb.CampaignStatus.ValueType(view.status.value),
        created_at=_timestamp(record.created_at),
        recipient_total=view.tally.recipient_total,
        counters=_counters(view.tally),
    )


def _recipient(view: RecipientView) -> pb.RecipientRow:
    state = view.state
    failure = None
    # A failure is shown while it is the recipient's status; a later
    # delivery supersedes it (the timeline still has it).
    if state.status is Status.FAILED and state.failure is not None:
        info = failures.lookup(state.failure.code, state.failure.title)
        failure = pb.Failure(
            code=info.code,
            category=info.category.value,
            title=info.title,
            action=info.action,
            retryable=info.retryable,
        )
    return pb.RecipientRow(
        phone=view.phone,
        name=view.name,
        status=pb.RecipientStatus.ValueType(state.status.value),
        wamid=state.wamid or "",
        sent_at=_timestamp(state.sent_at),
        delivered_at=_timestamp(state.delivered_at),
        read_at=_timestamp(state.read_at),
        failed_at=_timestamp(state.failed_at),
        replied_at=_timestamp(state.replied_at),
        opted_out_at=_timestamp(state.opted_out_at),
        failure=failure,
        timeline=[
            pb.TimelineEntry(status=status, at=_timestamp(at))
            for status, at in view.timeline
        ],
    )


# -- requests ------------------------------------------------------------

_ContactEvent = (
    events_pb2.StatusEvent | events_pb2.InboundMessage | events_pb2.UserPreference
)
_AccountEvent = (
    events_pb2.TemplateStatusUpdate
    | events_pb2.PhoneQualityUpdate
    | events_pb2.AccountUpdate
    | events_pb2.ChangeError
)


def _time(stamp: Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def _required_time(event: _ContactEvent, what: str) -> datetime:
    if not event.HasField("occurred_at"):
        raise InvalidArgumentError(f"{what} has no occurred_at")
    return _time(event.occurred_at)


def _status_filter(value: int) -> Status | None:
    if value == pb.RECIPIENT_STATUS_UNSPECIFIED:
        return None
    try:
        return Status(value)
    except ValueError:
        raise InvalidArgumentError(f"unknown status {value}") from None


def _sort(value: int) -> RecipientSort:
    if value == pb.RECIPIENT_SORT_UNSPECIFIED:
        return RecipientSort.ADDED
    try:
        name = pb.RecipientSort.Name(pb.RecipientSort.ValueType(value))
        return RecipientSort[name.removeprefix("RECIPIENT_SORT_")]
    except (KeyError, ValueError):
        raise InvalidArgumentError(f"unknown sort {value}") from None


def _status_report(event: events_pb2.StatusEvent, index: int) -> events.StatusReport:
    detail: dict[str, Any] = {
        key: value
        for key, value in (
            ("recipient_type", event.recipient_type),
            ("pricing_category", event.pricing_category),
            ("pricing_model", event.pricing_model),
            ("conversation_id", event.conversation_id),
            ("biz_opaque_callback_data", event.biz_opaque_callback_data),
            ("error_message", event.error.message),
            ("error_details", event.error.details),
        )
        if value
    }
    if event.HasField("billable"):
        detail["billable"] = event.billable
    return events.StatusReport(
        workspace_id=event.workspace_id,
        wamid=event.wamid,
        status=event.status,
        occurred_at=_required_time(event, f"statuses[{index}]"),
        error_code=event.error.code,
        error_title=event.error.title,
        detail=detail,
    )


def _account_event(kind: str, event: _AccountEvent) -> events.AccountEvent:
    payload = MessageToDict(event, preserving_proto_field_name=True)
    payload.pop("workspace_id", None)
    return events.AccountEvent(
        workspace_id=event.workspace_id,
        kind=kind,
        occurred_at=_time(event.occurred_at),
        payload=payload,
        waba_id=getattr(event, "waba_id", ""),
        phone_number_id=getattr(event, "phone_number_id", ""),
    )


def _event_batch(batch: events_pb2.EventBatch) -> events.EventBatch:
    account_events = [
        *(_account_event("template_status", e) for e in batch.template_updates),
        *(_account_event("phone_quality", e) for e in batch.quality_updates),
        *(_account_event("account_update", e) for e in batch.account_updates),
        *(_account_event("error", e) for e in batch.errors),
    ]
    return events.EventBatch(
        statuses=[_status_report(e, i) for i, e in enumerate(batch.statuses)],
        messages=[
            events.InboundMessage(
                workspace_id=m.workspace_id,
                wamid=m.wamid,
                phone=m.sender,
                occurred_at=_required_time(m, f"messages[{i}]"),
                type=m.type,
                context_wamid=m.context_wamid,
                opt_out=m.opt_out,
            )
            for i, m in enumerate(batch.messages)
        ],
        preferences=[
            events.PreferenceChange(
                workspace_id=p.workspace_id,
                phone=p.wa_id,
                occurred_at=_required_time(p, f"user_preferences[{i}]"),
                opted_out=p.opted_out,
            )
            for i, p in enumerate(batch.user_preferences)
        ],
        account_events=account_events,
    )
