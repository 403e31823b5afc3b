"""MetricsService over gRPC: requests become domain calls, results replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.metrics import events
from services.metrics.batches import event_batch
from services.metrics.campaigns import Campaigns, CampaignView, campaign_status
from services.metrics.contact_sends import ContactSend, ContactSends
from services.metrics.counters import Counters
from services.metrics.erasure import RecipientErasure
from services.metrics.events import Outcome
from services.metrics.recipient_feed import RecipientFeed
from services.metrics.recipients import Recipients, RecipientSort, RecipientView
from services.metrics.recording import Recorder
from services.metrics.retries import Retries
from services.metrics.series import Bucket
from services.metrics.standing import Standing
from services.metrics.statuses import Status, Tally
from services.metrics.store import CampaignRecord
from services.metrics.unmatched import Unmatched
from xobito import failures, phones
from xobito.errors import InvalidArgumentError
from xobito.ingest.v1 import events_pb2
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1 import metrics_pb2_grpc
from xobito.timestamps import set_timestamp, to_datetime, to_timestamp

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
        standing: Standing,
        unmatched: Unmatched,
        retries: Retries,
        erasure: RecipientErasure,
        recipient_feed: RecipientFeed,
        contact_sends: ContactSends,
    ) -> None:
        self._campaigns = campaigns
        self._recorder = recorder
        self._recipients = recipients
        self._counters = counters
        self._standing = standing
        self._unmatched = unmatched
        self._retries = retries
        self._erasure = erasure
        self._recipient_feed = recipient_feed
        self._contact_sends = contact_sends

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
            template_language=request.template_language,
        )
        view = await self._campaigns.create(wanted, request.display_phone_number)
        return _campaign(view)

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
        result = await self._recorder.record_events(event_batch(request.batch))
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
            failure_category=request.failure_category,
            sort=_sort(request.sort),
            size=request.page_size,
            token=request.page_token,
            timelines=not request.omit_timeline,
        )
        return pb.ListRecipientsResponse(
            recipients=[_recipient(view) for view in page.recipients],
            next_page_token=page.next_page_token,
            total_count=page.total_count,
            total_count_capped=page.total_count_capped,
        )

    async def ListFailureReasons(
        self, request: pb.ListFailureReasonsRequest, context: Context
    ) -> pb.ListFailureReasonsResponse:
        workspace_id, campaign_id = request.workspace_id, request.campaign_id
        reasons = await self._standing.explain(
            workspace_id,
            campaign_id,
            await self._recipients.failure_reasons(workspace_id, campaign_id),
        )
        return pb.ListFailureReasonsResponse(
            reasons=[
                pb.FailureReason(
                    code=reason.code,
                    category=reason.category,
                    title=reason.title,
                    action=reason.action,
                    count=reason.count,
                    hint=reason.hint,
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

    async def WatchRecipients(
        self, request: pb.WatchRecipientsRequest, context: Context
    ) -> AsyncIterator[pb.RecipientRow]:
        status = _status_filter(request.status)
        watch = self._recipient_feed.watch(
            request.workspace_id, request.campaign_id, status
        )
        async with aclosing(watch):
            async for views in watch:
                for view in views:
                    yield _recipient(view)

    async def ListCampaignWarnings(
        self, request: pb.ListCampaignWarningsRequest, context: Context
    ) -> pb.ListCampaignWarningsResponse:
        warnings = await self._standing.warnings(
            request.workspace_id, request.campaign_id
        )
        return pb.ListCampaignWarningsResponse(
            warnings=[
                pb.CampaignWarning(
                    kind=pb.WarningKind.ValueType(warning.kind.value),
                    severity=pb.WarningSeverity.ValueType(warning.severity.value),
                    title=warning.title,
                    action=warning.action,
                    since=to_timestamp(warning.since),
                )
                for warning in warnings
            ]
        )

    async def GetBusinessNumber(
        self, request: pb.GetBusinessNumberRequest, context: Context
    ) -> pb.BusinessNumber:
        number = await self._standing.business_number(
            request.workspace_id, request.campaign_id
        )
        return pb.BusinessNumber(
            phone_number_id=number.phone_number_id,
            display_phone_number=number.display_phone_number,
            waba_id=number.waba_id,
            quality_event=number.quality_event,
            quality_event_at=to_timestamp(number.quality_at),
            limit_event=number.limit_event,
            limit_event_at=to_timestamp(number.limit_at),
            current_limit=number.current_limit,
            old_limit=number.old_limit,
            max_daily=number.max_daily,
            restrictions=[
                events_pb2.AccountRestriction(
                    type=restriction.type, until=to_timestamp(restriction.until)
                )
                for restriction in number.restrictions
            ],
        )

    async def GetCampaignCost(
        self, request: pb.GetCampaignCostRequest, context: Context
    ) -> pb.CampaignCost:
        cost = await self._recipients.cost(request.workspace_id, request.campaign_id)
        return pb.CampaignCost(
            billable=cost.billable,
            by_category=[
                pb.BillableCount(category=category, count=count)
                for category, count in cost.by_category
            ],
        )

    async def ListUnmatchedStatuses(
        self, request: pb.ListUnmatchedStatusesRequest, context: Context
    ) -> pb.ListUnmatchedStatusesResponse:
        page = await self._unmatched.page(
            request.workspace_id, request.page_size, request.page_token
        )
        return pb.ListUnmatchedStatusesResponse(
            statuses=[
                pb.UnmatchedStatus(
                    wamid=status.wamid,
                    status=status.status,
                    occurred_at=to_timestamp(status.occurred_at),
                    received_at=to_timestamp(status.received_at),
                    phone_number_id=status.phone_number_id,
                )
                for status in page.statuses
            ],
            next_page_token=page.next_page_token,
            total_count=page.total_count,
        )

    async def GetCampaignSeries(
        self, request: pb.GetCampaignSeriesRequest, context: Context
    ) -> pb.CampaignSeries:
        points = await self._recipients.series(
            request.workspace_id, request.campaign_id, _bucket(request.bucket)
        )
        return pb.CampaignSeries(
            points=[
                pb.SeriesPoint(
                    start=to_timestamp(point.start),
                    sent=point.sent,
                    delivered=point.delivered,
                    read=point.read,
                    failed=point.failed,
                    replied=point.replied,
                )
                for point in points
            ]
        )

    async def ListRetryCandidates(
        self, request: pb.ListRetryCandidatesRequest, context: Context
    ) -> pb.ListRetryCandidatesResponse:
        found = await self._retries.candidates(
            request.workspace_id, request.campaign_id, list(request.categories)
        )
        return pb.ListRetryCandidatesResponse(
            phones=found.phones,
            not_retryable=found.not_retryable,
            already_queued=found.already_queued,
        )

    async def QueueRetries(
        self, request: pb.QueueRetriesRequest, context: Context
    ) -> pb.QueueRetriesResponse:
        result = await self._retries.queue(
            request.workspace_id,
            request.campaign_id,
            list(request.categories),
            list(request.phones),
        )
        return pb.QueueRetriesResponse(
            queued=result.queued,
            already_queued=result.already_queued,
            not_retryable=result.not_retryable,
        )

    async def WatchRetries(
        self, request: pb.WatchRetriesRequest, context: Context
    ) -> AsyncIterator[pb.QueuedRetry]:
        watch = self._retries.watch(request.workspace_id, request.campaign_id)
        # Closed at once when the call ends, so unsent retries go back.
        async with aclosing(watch):
            async for retry in watch:
                yield pb.QueuedRetry(
                    campaign_id=retry.campaign_id,
                    phone=retry.phone,
                    name=retry.name,
                    failure_code=retry.failure_code,
                    failed_at=to_timestamp(retry.failed_at),
                    queued_at=to_timestamp(retry.queued_at),
                )

    async def EraseContact(
        self, request: pb.EraseContactRequest, context: Context
    ) -> pb.EraseContactResponse:
        phone = phones.normalize(request.phone)
        if not request.workspace_id or phone is None:
            raise InvalidArgumentError("workspace_id and a phone are required")
        erased = await self._erasure.erase(request.workspace_id, phone)
        return pb.EraseContactResponse(rows_erased=erased)

    async def ListContactSends(
        self, request: pb.ListContactSendsRequest, context: Context
    ) -> pb.ListContactSendsResponse:
        phone = phones.normalize(request.phone)
        if not request.workspace_id or phone is None:
            raise InvalidArgumentError("workspace_id and a phone are required")
        page = await self._contact_sends.page(
            request.workspace_id, phone, request.page_size, request.page_token
        )
        return pb.ListContactSendsResponse(
            sends=[_contact_send(phone, send) for send in page.sends],
            next_page_token=page.next_page_token,
        )


# -- replies -------------------------------------------------------------


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
        template_language=record.template_language,
        status=pb.CampaignStatus.ValueType(view.status.value),
        created_at=to_timestamp(record.created_at),
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
    row = pb.RecipientRow(
        phone=view.phone,
        name=view.name,
        status=pb.RecipientStatus.ValueType(state.status.value),
        wamid=state.wamid or "",
        failure=failure,
    )
    set_timestamp(row.sent_at, state.sent_at)
    set_timestamp(row.delivered_at, state.delivered_at)
    set_timestamp(row.read_at, state.read_at)
    set_timestamp(row.failed_at, state.failed_at)
    set_timestamp(row.replied_at, state.replied_at)
    set_timestamp(row.opted_out_at, state.opted_out_at)
    for status, at in view.timeline:
        set_timestamp(row.timeline.add(status=status).at, at)
    return row


def _contact_send(phone: str, send: ContactSend) -> pb.ContactSend:
    row = _recipient(RecipientView(phone, "", send.state, send.timeline))
    return pb.ContactSend(
        campaign_id=send.campaign_id,
        campaign_name=send.campaign_name,
        template_name=send.template_name,
        wamid=row.wamid,
        status=row.status,
        sent_at=row.sent_at,
        failure=row.failure if row.HasField("failure") else None,
        timeline=row.timeline,
        page_token=send.page_token,
    )


# -- requests ------------------------------------------------------------


def _time(stamp: Timestamp) -> datetime:
    try:
        return to_datetime(stamp)
    except ValueError:
        raise InvalidArgumentError("a timestamp is out of range") from None


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


_BUCKETS = {
    pb.SERIES_BUCKET_UNSPECIFIED: Bucket.MINUTE,
    pb.SERIES_BUCKET_MINUTE: Bucket.MINUTE,
    pb.SERIES_BUCKET_HOUR: Bucket.HOUR,
    pb.SERIES_BUCKET_DAY: Bucket.DAY,
}


def _bucket(value: int) -> Bucket:
    try:
        return _BUCKETS[pb.SeriesBucket.ValueType(value)]
    except KeyError:
        raise InvalidArgumentError(f"unknown bucket {value}") from None
