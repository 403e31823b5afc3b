"""Events as the ingest service sends them, and the calls tests make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.ingest.v1 import events_pb2

WORKSPACE = "contacts-test"
PHONE = "16505551234"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

Stub = contacts_pb2_grpc.ContactsServiceStub
Event = events_pb2.InboundMessage | events_pb2.StatusEvent | events_pb2.UserPreference


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def message(
    minutes: int,
    text: str = "hello",
    *,
    wamid: str = "",
    type: str = "text",
    opt_out: bool = False,
    opt_in: bool = False,
    phone: str = PHONE,
    name: str = "",
) -> events_pb2.InboundMessage:
    event = events_pb2.InboundMessage(
        workspace_id=WORKSPACE,
        wamid=wamid or f"wamid.in.{phone}.{minutes}",
        profile_name=name,
        type=type,
        text=text,
        opt_out=opt_out,
        opt_in=opt_in,
    )
    event.sender = phone
    event.occurred_at.FromDatetime(at(minutes))
    return event


def status(
    minutes: int,
    value: str,
    *,
    wamid: str = "",
    code: int = 0,
    category: str = "",
    phone: str = PHONE,
) -> events_pb2.StatusEvent:
    event = events_pb2.StatusEvent(
        workspace_id=WORKSPACE,
        wamid=wamid or f"wamid.out.{phone}.{minutes}",
        status=value,
        recipient=phone,
    )
    if code:
        event.error.code = code
        event.error.category = category
    event.occurred_at.FromDatetime(at(minutes))
    return event


def failed(minutes: int, code: int = 131026, **kwargs: str) -> events_pb2.StatusEvent:
    categories = {
        131026: "not_on_whatsapp",
        131049: "marketing_frequency_cap",
        131050: "opted_out_or_blocked",
    }
    return status(minutes, "failed", code=code, category=categories[code], **kwargs)


def preference(minutes: int, value: str) -> events_pb2.UserPreference:
    event = events_pb2.UserPreference(
        workspace_id=WORKSPACE,
        wa_id=PHONE,
        category="marketing_messages",
        value=value,
        opted_out=value == "stop",
    )
    event.occurred_at.FromDatetime(at(minutes))
    return event


def record(stub: Stub, *events: Event) -> contacts_pb2.RecordEventsResponse:
    batch = events_pb2.EventBatch()
    for event in events:
        if isinstance(event, events_pb2.InboundMessage):
            batch.messages.append(event)
        elif isinstance(event, events_pb2.StatusEvent):
            batch.statuses.append(event)
        else:
            batch.user_preferences.append(event)
    reply: contacts_pb2.RecordEventsResponse = stub.RecordEvents(
        contacts_pb2.RecordEventsRequest(batch=batch)
    )
    return reply


def contact(stub: Stub, phone: str = PHONE) -> contacts_pb2.Contact:
    reply: contacts_pb2.Contact = stub.GetContact(
        contacts_pb2.GetContactRequest(workspace_id=WORKSPACE, phone=phone)
    )
    return reply


def sendability(stub: Stub, *phones: str) -> list[tuple[str, bool, str]]:
    reply = stub.FilterSendable(
        contacts_pb2.FilterSendableRequest(workspace_id=WORKSPACE, phones=phones)
    )
    return [(r.phone, r.sendable, r.reason) for r in reply.results]
