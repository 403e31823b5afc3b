"""The ingest's EventBatch, read into the metrics service's own events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp

from services.metrics import events
from xobito.errors import InvalidArgumentError
from xobito.ingest.v1 import events_pb2
from xobito.timestamps import to_datetime

_ContactEvent = (
    events_pb2.StatusEvent | events_pb2.InboundMessage | events_pb2.UserPreference
)
_AccountEvent = (
    events_pb2.TemplateStatusUpdate
    | events_pb2.PhoneQualityUpdate
    | events_pb2.AccountUpdate
    | events_pb2.ChangeError
)


def _required_time(event: _ContactEvent, what: str) -> datetime:
    if not event.HasField("occurred_at"):
        raise InvalidArgumentError(f"{what} has no occurred_at")
    return _time(event.occurred_at)


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
        phone_number_id=event.phone_number_id,
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


def event_batch(batch: events_pb2.EventBatch) -> events.EventBatch:
    """The batch's events; InvalidArgumentError for one without a time."""
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


def _time(stamp: Timestamp) -> datetime:
    return to_datetime(stamp)
