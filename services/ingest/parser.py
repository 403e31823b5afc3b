"""Meta's webhook bodies, read into normalized events.

parse_webhook reads every entry, change and element of one POST body into
an EventBatch. A change of a field we do not follow is skipped. An element
too broken to use (a status without an id) is left out and listed in
ParsedWebhook.rejected instead of failing the body: an error answer makes
Meta redeliver the good events with it for days.

WebhookFormatError is raised only for a body that is no webhook at all.

Given the time the body arrived, an inbound message dated more than
CLOCK_SKEW_SECONDS after it is dated when it arrived instead: nothing
happens after it is reported, and a contact's flags follow messages in
the order of their times, so a START dated next year would outlive every
STOP until then. A message is known by its wamid, whatever its time.
Every other event keeps its time, far ahead or not: its time is part of
what tells Meta's redelivery of it from a new one, and a redelivery
would arrive at another time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NoReturn

import orjson
from google.protobuf.message import Message

from xobito.failures import FailureCategory, lookup
from xobito.ingest.v1 import events_pb2
from xobito.optout import is_start_keyword, is_stop_button, is_stop_keyword

EventKind = Literal[
    "status",
    "message",
    "user_preference",
    "template_status",
    "phone_quality",
    "account_update",
    "error",
]

BATCH_FIELDS: Mapping[EventKind, str] = {
    "status": "statuses",
    "message": "messages",
    "user_preference": "user_preferences",
    "template_status": "template_updates",
    "phone_quality": "quality_updates",
    "account_update": "account_updates",
    "error": "errors",
}
"""The EventBatch field that holds each kind of event."""

KNOWN_STATUSES = frozenset(
    {"sent", "delivered", "read", "played", "failed", "deleted", "warning"}
)

# Template events after which sending works; FLAGGED templates still send
# (they are only at risk of a pause).
SENDABLE_TEMPLATE_EVENTS = frozenset({"APPROVED", "REINSTATED", "FLAGGED"})

_QUALITY_WARNINGS = {
    "FLAGGED": FailureCategory.QUALITY_THROTTLED,
    "DOWNGRADE": FailureCategory.TIER_LIMIT_REACHED,
}
_ACCOUNT_PROBLEMS = frozenset(
    {
        "ACCOUNT_RESTRICTION",
        "ACCOUNT_VIOLATION",
        "ACCOUNT_DELETED",
        "DISABLED_UPDATE",
    }
)
# 19 digits can exceed 2**63; anything shorter fits in 64 bits. A run of
# them is found as 19 zeros once every digit is a zero: a regular
# expression took a quarter of the parse of a usual body to scan it.
_ALL_DIGITS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_LONG_DIGITS = b"0" * 19
# Timestamp's own upper bound: 9999-12-31T23:59:59Z.
_MAX_EPOCH = 253_402_300_799
_INT32_MAX = 2**31 - 1
# What Meta's status names look like ("delivered"), known to us or not.
_STATUS_NAME = re.compile(r"[A-Za-z_]{1,32}")
# How far ahead of ours Meta's clock may run before a message's time is
# not believed.
CLOCK_SKEW_SECONDS = 300


class WebhookFormatError(ValueError):
    """The body is not a WhatsApp Business Account webhook.

    Its message never quotes the body, which may hold personal data.
    """


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An element left out of the batch, and why.

    `kind` is the event kind, or "entry", "change" or the field's name
    when what is broken holds the elements rather than being one.
    """

    kind: str
    reason: str


@dataclass(slots=True)
class ParsedWebhook:
    """The events of one body, and the elements that could not be read.

    `order` lists (kind, index into the batch field) in the body's own
    order, entry by change by element, which the batch alone loses.
    """

    batch: events_pb2.EventBatch = field(default_factory=events_pb2.EventBatch)
    rejected: list[RejectedEvent] = field(default_factory=list)
    order: list[tuple[EventKind, int]] = field(default_factory=list)
    # Messages dated too far after the body arrived, dated when it did.
    redated: int = 0

    def add(self, kind: EventKind, event: Message) -> None:
        events = getattr(self.batch, BATCH_FIELDS[kind])
        self.order.append((kind, len(events)))
        events.append(event)


class _Skip(Exception):
    """An element too broken to use; the message is the reason."""


@dataclass(frozen=True, slots=True)
class _Change:
    """What the elements of one change share."""

    waba_id: str
    entry_time: int | None
    phone_number_id: str = ""
    contacts: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


def parse_webhook(body: bytes, received_at: int | None = None) -> ParsedWebhook:
    """Every event of one webhook body, in the body's order.

    received_at is when the body arrived, in epoch seconds; without it,
    every event keeps the time the body gives it.
    """
    document = _load(body)
    if not isinstance(document, dict):
        raise WebhookFormatError("body is not a JSON object")
    if document.get("object") != "whatsapp_business_account":
        raise WebhookFormatError("body is not a WhatsApp Business webhook")
    entries = document.get("entry")
    if not isinstance(entries, list):
        raise WebhookFormatError("webhook has no list of entries")

    parsed = ParsedWebhook()
    for entry in entries:
        _read_entry(entry, parsed)
    if received_at is not None:
        parsed.redated = _redate(parsed.batch.messages, received_at)
    return parsed


def _redate(messages: Iterable[events_pb2.InboundMessage], received_at: int) -> int:
    """Date at received_at the messages dated past the skew after it; how many."""
    redated = 0
    for message in messages:
        if message.occurred_at.seconds > received_at + CLOCK_SKEW_SECONDS:
            message.occurred_at.FromSeconds(received_at)
            redated += 1
    return redated


def _load(body: bytes) -> object:
    # orjson reads the usual body fast, but it turns integers wider than
    # 64 bits into floats without a word (orjson 3.11), and Meta's numeric
    # ids are not promised to stay narrower. A body with a run of digits
    # that long, or one orjson refuses, is read by the standard library,
    # which keeps every integer exact and alone decides what is JSON.
    if _LONG_DIGITS not in body.translate(_ALL_DIGITS_ZERO):
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        # `from None`: the decoder's error carries the whole body.
        raise WebhookFormatError("body is not valid JSON") from None


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _read_entry(entry: object, parsed: ParsedWebhook) -> None:
    if not isinstance(entry, dict):
        parsed.rejected.append(RejectedEvent("entry", "not an object"))
        return
    changes = entry.get("changes", [])
    if not isinstance(changes, list):
        parsed.rejected.append(RejectedEvent("entry", "changes not a list"))
        return

    shared = _Change(_string(entry.get("id")), _epoch(entry.get("time")))
    for change in changes:
        if not isinstance(change, dict):
            parsed.rejected.append(RejectedEvent("change", "not an object"))
            continue
        _read_change(change, shared, parsed)


def _read_change(
    change: dict[str, object], shared: _Change, parsed: ParsedWebhook
) -> None:
    name = change.get("field")
    value = change.get("value")
    if not isinstance(name, str):
        return
    if name in _WABA_FIELDS:
        kind, read = _WABA_FIELDS[name]
        _keep(parsed, kind, read, value, shared)
        return
    if name not in _MESSAGING_FIELDS:
        return  # a field we do not follow
    if not isinstance(value, dict):
        parsed.rejected.append(RejectedEvent(name, "value not an object"))
        return

    metadata = _object(value.get("metadata"))
    messaging = _Change(
        shared.waba_id,
        shared.entry_time,
        _string(metadata.get("phone_number_id")),
        _contacts(value.get("contacts")),
    )
    # Going through the value's own keys keeps the body's order.
    for key, items in value.items():
        if key not in _ARRAYS:
            continue
        kind, read = _ARRAYS[key]
        if not isinstance(items, list):
            parsed.rejected.append(RejectedEvent(kind, f"{key} not a list"))
            continue
        for item in items:
            _keep(parsed, kind, read, item, messaging)


_Reader = Callable[[object, _Change], Message]


def _keep(
    parsed: ParsedWebhook,
    kind: EventKind,
    read: _Reader,
    item: object,
    change: _Change,
) -> None:
    try:
        event = read(item, change)
    except _Skip as skip:
        parsed.rejected.append(RejectedEvent(kind, str(skip)))
        return
    except ValueError:
        # protobuf refuses text that is no valid Unicode (lone surrogates,
        # which JSON can spell); the exception would quote it.
        parsed.rejected.append(RejectedEvent(kind, "value not storable"))
        return
    parsed.add(kind, event)


def _status(item: object, change: _Change) -> events_pb2.StatusEvent:
    status = _element(item, "status")
    event = events_pb2.StatusEvent(
        phone_number_id=change.phone_number_id,
        wamid=_required(status, "id", "status"),
        status=_status_name(status),
        recipient=_string(status.get("recipient_id")),
        recipient_user_id=_string(status.get("recipient_user_id")),
        recipient_type=_string(status.get("recipient_type")) or "individual",
        biz_opaque_callback_data=_string(
            status.get("biz_opaque_callback_data"),
        ),
    )
    event.occurred_at.FromSeconds(_required_epoch(status, "status"))

    pricing = _object(status.get("pricing"))
    event.pricing_category = _string(pricing.get("category"))
    event.pricing_model = _string(pricing.get("pricing_model"))
    billable = pricing.get("billable")
    if isinstance(billable, bool):
        event.billable = billable
    conversation = _object(status.get("conversation"))
    event.conversation_id = _string(conversation.get("id"))

    # Meta sends one error; of a list that holds more, the first usable.
    for item in _list(status.get("errors")):
        error = _error(item)
        if error is not None:
            event.error.CopyFrom(error)
            break
    return event


def _status_name(status: dict[str, object]) -> str:
    """The status's name: one of KNOWN_STATUSES, or one Meta adds later."""
    name = _required(status, "status", "status")
    if not _STATUS_NAME.fullmatch(name):
        raise _Skip("status has no status name")
    return name


def _message(item: object, change: _Change) -> events_pb2.InboundMessage:
    message = _element(item, "message")
    sender = _string(message.get("from"))
    user_id = _string(message.get("from_user_id"))
    contact = change.contacts.get(sender) or change.contacts.get(user_id, {})
    user_id = user_id or _string(contact.get("user_id"))
    if not (sender or user_id):
        raise _Skip("message has no sender")

    kind = _string(message.get("type"))
    text, payload = _content(message, kind)
    event = events_pb2.InboundMessage(
        phone_number_id=change.phone_number_id,
        wamid=_required(message, "id", "message"),
        sender=sender,
        from_user_id=user_id,
        profile_name=_string(_object(contact.get("profile")).get("name")),
        type=kind,
        text=text,
        button_payload=payload,
        context_wamid=_string(_object(message.get("context")).get("id")),
    )
    event.occurred_at.FromSeconds(_required_epoch(message, "message"))

    if kind == "text":
        event.opt_out = is_stop_keyword(text)
        event.opt_in = is_start_keyword(text)
    elif kind in ("button", "interactive"):
        event.opt_out = is_stop_button(text, payload)
    return event


def _content(message: dict[str, object], kind: str) -> tuple[str, str]:
    """The message's text and tapped button payload, where it has them."""
    body = _object(message.get(kind)) if kind else {}
    if kind == "text":
        return _string(body.get("body")), ""
    if kind == "button":
        return _string(body.get("text")), _string(body.get("payload"))
    if kind == "interactive":
        # button_reply and list_reply both carry the choice's title and id.
        reply = _object(body.get(_string(body.get("type"))))
        return _string(reply.get("title")), _string(reply.get("id"))
    return _string(body.get("caption")), ""


def _preference(item: object, change: _Change) -> events_pb2.UserPreference:
    preference = _element(item, "user preference")
    value = _required(preference, "value", "user preference")
    event = events_pb2.UserPreference(
        phone_number_id=change.phone_number_id,
        wa_id=_required(preference, "wa_id", "user preference"),
        category=_string(preference.get("category")),
        value=value,
        opted_out=value.casefold() == "stop",
    )
    seconds = _required_epoch(preference, "user preference")
    event.occurred_at.FromSeconds(seconds)
    return event


def _change_error(item: object, change: _Change) -> events_pb2.ChangeError:
    error = _error(item)
    if error is None:
        raise _Skip("error has no code")
    event = events_pb2.ChangeError(
        phone_number_id=change.phone_number_id,
        error=error,
    )
    if change.entry_time is not None:
        event.occurred_at.FromSeconds(change.entry_time)
    return event


def _error(item: object) -> events_pb2.MessageError | None:
    """Meta's error with our category; None when it has no usable code."""
    if not isinstance(item, dict):
        return None
    code = item.get("code")
    if isinstance(code, str) and code.isascii() and code.isdigit():
        code = int(code)
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    if not 0 < code <= _INT32_MAX:
        return None

    meta_title = _string(item.get("title"))
    info = lookup(code, meta_title)
    return events_pb2.MessageError(
        code=code,
        title=meta_title or info.title,
        message=_string(item.get("message")),
        details=_string(_object(item.get("error_data")).get("details")),
        category=info.category.value,
        retryable=info.retryable,
    )


def _template_status(
    item: object,
    change: _Change,
) -> events_pb2.TemplateStatusUpdate:
    value = _element(item, "template status")
    event_name = _required(value, "event", "template status")
    sendable = event_name in SENDABLE_TEMPLATE_EVENTS
    unavailable = FailureCategory.TEMPLATE_UNAVAILABLE.value
    event = events_pb2.TemplateStatusUpdate(
        waba_id=change.waba_id,
        template_id=_string(value.get("message_template_id")),
        template_name=_string(value.get("message_template_name")),
        language=_string(value.get("message_template_language")),
        event=event_name,
        reason=_string(value.get("reason")),
        category=_string(value.get("message_template_category")),
        sendable=sendable,
        failure_category_if_sent="" if sendable else unavailable,
    )
    _stamp_waba_event(event, value, change)
    return event


def _phone_quality(
    item: object,
    change: _Change,
) -> events_pb2.PhoneQualityUpdate:
    value = _element(item, "phone quality")
    event_name = _required(value, "event", "phone quality")
    max_daily = value.get("max_daily_conversations_per_business")
    event = events_pb2.PhoneQualityUpdate(
        waba_id=change.waba_id,
        display_phone_number=_string(value.get("display_phone_number")),
        event=event_name,
        old_limit=_string(value.get("old_limit")),
        current_limit=_string(value.get("current_limit")),
        max_daily=_string(max_daily),
        warning_category=_QUALITY_WARNINGS.get(event_name, ""),
    )
    _stamp_waba_event(event, value, change)
    return event


def _account_update(item: object, change: _Change) -> events_pb2.AccountUpdate:
    value = _element(item, "account update")
    event_name = _required(value, "event", "account update")
    event = events_pb2.AccountUpdate(waba_id=change.waba_id, event=event_name)
    for info in _list(value.get("restriction_info")):
        restriction = _object(info)
        added = event.restrictions.add(
            type=_string(restriction.get("restriction_type"))
        )
        until = _epoch(restriction.get("expiration"))
        if until is not None:
            added.until.FromSeconds(until)

    ban = _object(value.get("ban_info"))
    reinstated = ban.get("waba_ban_state") == "REINSTATE"
    problem = event_name in _ACCOUNT_PROBLEMS and not reinstated
    if event.restrictions or problem:
        event.warning_category = FailureCategory.ACCOUNT_PROBLEM.value
    _stamp_waba_event(event, value, change)
    return event


def _stamp_waba_event(
    event: events_pb2.TemplateStatusUpdate
    | events_pb2.PhoneQualityUpdate
    | events_pb2.AccountUpdate,
    value: dict[str, object],
    change: _Change,
) -> None:
    # WABA-level values carry no time of their own today; entry.time is
    # when Meta raised them. Never the time the webhook arrived.
    at = _epoch(value.get("timestamp"))
    if at is None:
        at = change.entry_time
    if at is not None:
        event.occurred_at.FromSeconds(at)


_WABA_FIELDS: Mapping[str, tuple[EventKind, _Reader]] = {
    "message_template_status_update": ("template_status", _template_status),
    "phone_number_quality_update": ("phone_quality", _phone_quality),
    "account_update": ("account_update", _account_update),
}
_MESSAGING_FIELDS = frozenset({"messages", "user_preferences"})
_ARRAYS: Mapping[str, tuple[EventKind, _Reader]] = {
    "statuses": ("status", _status),
    "messages": ("message", _message),
    "user_preferences": ("user_preference", _preference),
    "errors": ("error", _change_error),
}


def _contacts(value: object) -> dict[str, Mapping[str, object]]:
    """value.contacts[] by wa_id and by user id (BSUID), for the senders."""
    contacts: dict[str, Mapping[str, object]] = {}
    for item in _list(value):
        contact = _object(item)
        for key in ("wa_id", "user_id"):
            if found := _string(contact.get(key)):
                contacts[found] = contact
    return contacts


def _string(value: object) -> str:
    """Text, or an id Meta sent as a JSON number; "" for anything else."""
    if isinstance(value, str):
        # PostgreSQL text cannot hold NUL; a body with one must not be
        # refused downstream, or Meta would retry it for days.
        return value.replace("\x00", "")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def _epoch(value: object) -> int | None:
    """Epoch seconds, sent as an integer or a string of digits."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return value if 0 <= value <= _MAX_EPOCH else None


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _element(item: object, what: str) -> dict[str, object]:
    if not isinstance(item, dict):
        raise _Skip(f"{what} is not an object")
    return item


def _required(item: dict[str, object], key: str, what: str) -> str:
    value = _string(item.get(key))
    if not value:
        raise _Skip(f"{what} has no {key}")
    return value


def _required_epoch(item: dict[str, object], what: str) -> int:
    seconds = _epoch(item.get("timestamp"))
    if seconds is None:
        raise _Skip(f"{what} has no valid timestamp")
    return seconds
