"""Events as plain dicts, in the form the shared webhook cases spell them.

Empty values are None, times are "YYYY-MM-DDTHH:MM:SSZ" in UTC. What the
services decide later (matched, duplicate, routed) is not here; whether a
status value is one we know is, as `known_status: False`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from services.ingest.parser import (
    BATCH_FIELDS,
    KNOWN_STATUSES,
    EventKind,
    ParsedWebhook,
)
from xobito.ingest.v1 import events_pb2 as pb

Event = dict[str, object]

_Timed = (
    pb.StatusEvent
    | pb.InboundMessage
    | pb.UserPreference
    | pb.TemplateStatusUpdate
    | pb.PhoneQualityUpdate
    | pb.AccountUpdate
    | pb.ChangeError
)


def event_dicts(parsed: ParsedWebhook | pb.EventBatch) -> list[Event]:
    """The events as dicts, in the body's order when it is known.

    A bare EventBatch has lost that order: its events come kind by kind.
    """
    if isinstance(parsed, ParsedWebhook):
        batch, order = parsed.batch, parsed.order
    else:
        batch = parsed
        order = [
            (kind, index)
            for kind, name in BATCH_FIELDS.items()
            for index in range(len(getattr(batch, name)))
        ]
    return [_render(batch, kind, index) for kind, index in order]


def _render(batch: pb.EventBatch, kind: EventKind, index: int) -> Event:
    match kind:
        case "status":
            return _status(batch.statuses[index])
        case "message":
            return _message(batch.messages[index])
        case "user_preference":
            return _preference(batch.user_preferences[index])
        case "template_status":
            return _template_status(batch.template_updates[index])
        case "phone_quality":
            return _phone_quality(batch.quality_updates[index])
        case "account_update":
            return _account_update(batch.account_updates[index])
        case "error":
            return _change_error(batch.errors[index])


def _status(event: pb.StatusEvent) -> Event:
    rendered: Event = {
        "kind": "status",
        "phone_number_id": _text(event.phone_number_id),
        "wamid": event.wamid,
        "status": event.status,
        "timestamp": _at(event),
        "recipient": _text(event.recipient),
        "recipient_user_id": _text(event.recipient_user_id),
        "recipient_type": _text(event.recipient_type),
        "pricing_category": _text(event.pricing_category),
        "billable": event.billable if event.HasField("billable") else None,
        "biz_opaque_callback_data": _text(event.biz_opaque_callback_data),
        "error": _error(event.error) if event.HasField("error") else None,
    }
    if event.status not in KNOWN_STATUSES:
        rendered["known_status"] = False
    return rendered


def _message(event: pb.InboundMessage) -> Event:
    rendered: Event = {
        "kind": "message",
        "phone_number_id": _text(event.phone_number_id),
        "wamid": event.wamid,
        "from": _text(event.sender),
        "from_user_id": _text(event.from_user_id),
        "timestamp": _at(event),
        "type": event.type,
        "text": _text(event.text),
        "context_wamid": _text(event.context_wamid),
        "opt_out": event.opt_out,
    }
    # Only taps carry a payload; the cases leave the key out otherwise.
    if event.button_payload:
        rendered["button_payload"] = event.button_payload
    return rendered


def _preference(event: pb.UserPreference) -> Event:
    return {
        "kind": "user_preference",
        "phone_number_id": _text(event.phone_number_id),
        "wa_id": event.wa_id,
        "category": _text(event.category),
        "value": event.value,
        "timestamp": _at(event),
        "opted_out": event.opted_out,
    }


def _template_status(event: pb.TemplateStatusUpdate) -> Event:
    return {
        "kind": "template_status",
        "waba_id": _text(event.waba_id),
        "at": _at(event),
        "template_id": _text(event.template_id),
        "template_name": _text(event.template_name),
        "language": _text(event.language),
        "event": event.event,
        "reason": _text(event.reason),
        "category": _text(event.category),
        "sendable": event.sendable,
        "failure_category_if_sent": _text(event.failure_category_if_sent),
    }


def _phone_quality(event: pb.PhoneQualityUpdate) -> Event:
    return {
        "kind": "phone_quality",
        "waba_id": _text(event.waba_id),
        "at": _at(event),
        "display_phone_number": _text(event.display_phone_number),
        "event": event.event,
        "old_limit": _text(event.old_limit),
        "current_limit": _text(event.current_limit),
        "max_daily": _text(event.max_daily),
        "warning_category": _text(event.warning_category),
    }


def _account_update(event: pb.AccountUpdate) -> Event:
    restrictions = [_restriction(item) for item in event.restrictions]
    return {
        "kind": "account_update",
        "waba_id": _text(event.waba_id),
        "at": _at(event),
        "event": event.event,
        "restrictions": restrictions,
        "warning_category": _text(event.warning_category),
    }


def _restriction(restriction: pb.AccountRestriction) -> Event:
    until = restriction.until if restriction.HasField("until") else None
    return {"type": restriction.type, "until": _iso(until)}


def _change_error(event: pb.ChangeError) -> Event:
    return {
        "kind": "error",
        "phone_number_id": _text(event.phone_number_id),
        "wamid": None,
        "error": _error(event.error),
    }


def _error(error: pb.MessageError) -> Event:
    return {
        "code": error.code,
        "category": error.category,
        "retryable": error.retryable,
        "title": error.title,
    }


def _text(value: str) -> str | None:
    return value or None


def _at(event: _Timed) -> str | None:
    return _iso(event.occurred_at if event.HasField("occurred_at") else None)


def _iso(stamp: Timestamp | None) -> str | None:
    if stamp is None:
        return None
    moment = datetime.fromtimestamp(stamp.seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
