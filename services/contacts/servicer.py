"""ContactsService over gRPC: requests in, store calls, responses out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import structlog

from services.contacts import history, keywords, rules
from services.contacts.erasure import ContactErasure
from services.contacts.history import HistoryItem, InboundMessage
from services.contacts.keyword_store import KeywordStore
from services.contacts.keywords import Keywords
from services.contacts.rules import (
    Contact,
    ContactSignal,
    FlagChange,
    SendOutcome,
)
from services.contacts.store import ContactEvents, ContactStore
from xobito import phones
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.errors import InvalidArgumentError, NotFoundError
from xobito.ingest.v1 import events_pb2
from xobito.timestamps import to_datetime, to_timestamp

log = structlog.get_logger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

SERVICE_NAME = contacts_pb2.DESCRIPTOR.services_by_name["ContactsService"].full_name


class ContactsServicer(contacts_pb2_grpc.ContactsServiceServicer):
    def __init__(
        self,
        store: ContactStore,
        keyword_store: KeywordStore,
        erasure: ContactErasure,
    ) -> None:
        self._store = store
        self._keywords = keyword_store
        self._erasure = erasure

    async def FilterSendable(
        self, request: contacts_pb2.FilterSendableRequest, context: Context
    ) -> contacts_pb2.FilterSendableResponse:
        _require(workspace_id=request.workspace_id)
        numbers = [phones.normalize(phone) for phone in request.phones]
        valid = [n for n in numbers if n is not None]
        # An erased number is refused under its marker; markers cost a
        # keyed hash each, so only a workspace that erased any pays them.
        markers: dict[str, str] = {}
        if await self._store.has_erased(request.workspace_id):
            markers = self._erasure.markers(valid)

        blocked = await self._store.blocked(
            request.workspace_id, [*valid, *markers.values()]
        )

        # Each result names the phone as the caller wrote it. Results are
        # added in place: building each apart and copying it in costs twice.
        response = contacts_pb2.FilterSendableResponse()
        add = response.results.add
        for asked, number in zip(request.phones, numbers, strict=True):
            reason = _refusal(number, blocked, markers)
            if reason:
                add(phone=asked, reason=reason)
            else:
                add(phone=asked, sendable=True)
        return response

    async def RecordEvents(
        self, request: contacts_pb2.RecordEventsRequest, context: Context
    ) -> contacts_pb2.RecordEventsResponse:
        events = _events_of(request.batch)
        events.outcomes = await self._without_erased(events.outcomes)
        recorded = await self._store.record(events)

        log.info(
            "contact events recorded",
            messages=recorded.messages_recorded,
            duplicates=recorded.duplicates,
            opt_outs=recorded.opt_outs,
        )
        return contacts_pb2.RecordEventsResponse(
            messages_recorded=recorded.messages_recorded,
            duplicates=recorded.duplicates,
            opt_outs=recorded.opt_outs,
        )

    async def RecordSendRejections(
        self, request: contacts_pb2.RecordSendRejectionsRequest, context: Context
    ) -> contacts_pb2.RecordSendRejectionsResponse:
        events = ContactEvents(
            outcomes=[_rejected_send(rejection) for rejection in request.rejections]
        )
        # Unlike a status, a rejection is news of a send made now, never
        # of one from before the number's erasure: it counts either way.
        recorded = await self._store.record(events)

        log.info(
            "send rejections recorded",
            rejections=len(events.outcomes),
            undeliverable=recorded.undeliverable,
            opt_outs=recorded.opt_outs,
        )
        return contacts_pb2.RecordSendRejectionsResponse(
            undeliverable=recorded.undeliverable, opt_outs=recorded.opt_outs
        )

    async def _without_erased(self, outcomes: list[SendOutcome]) -> list[SendOutcome]:
        """Outcomes less those of erased numbers.

        A status for a message sent before the number was erased (Meta
        retries for days) must not bring the number back as a contact.
        Known shortcoming: the statuses of messages sent after the erasure
        are dropped too, until the number is a contact again.
        """
        erased: set[tuple[str, str]] = set()
        for workspace_id in {outcome.workspace_id for outcome in outcomes}:
            if not await self._store.has_erased(workspace_id):
                continue
            markers = self._erasure.markers(
                {o.phone for o in outcomes if o.workspace_id == workspace_id}
            )
            known = await self._store.existing(workspace_id, list(markers.values()))
            erased |= {
                (workspace_id, phone)
                for phone, marker in markers.items()
                if marker in known
            }
        return [o for o in outcomes if (o.workspace_id, o.phone) not in erased]

    async def GetContact(
        self, request: contacts_pb2.GetContactRequest, context: Context
    ) -> contacts_pb2.Contact:
        _require(workspace_id=request.workspace_id, phone=request.phone)
        phone = phones.normalize(request.phone)

        contact = None
        if phone is not None:
            contact = await self._store.contact(request.workspace_id, phone)

        if contact is None:
            raise NotFoundError("no such contact")
        return _contact_message(contact)

    async def GetContacts(
        self, request: contacts_pb2.GetContactsRequest, context: Context
    ) -> contacts_pb2.GetContactsResponse:
        _require(workspace_id=request.workspace_id)
        numbers = {phones.normalize(phone) for phone in request.phones}
        found = await self._store.contacts(
            request.workspace_id, [n for n in numbers if n is not None]
        )
        return contacts_pb2.GetContactsResponse(
            contacts=[_contact_message(contact) for contact in found]
        )

    async def ListHistory(
        self, request: contacts_pb2.ListHistoryRequest, context: Context
    ) -> contacts_pb2.ListHistoryResponse:
        _require(workspace_id=request.workspace_id, phone=request.phone)
        limit = history.page_size(request.page_size)
        after = history.decode_token(request.page_token)

        # One item more than the page tells whether another page follows.
        items = await self._store.history(
            request.workspace_id,
            phones.normalize(request.phone) or "",
            limit + 1,
            after,
        )

        page = items[:limit]
        token = history.encode_token(page[-1].cursor) if len(items) > limit else ""
        return contacts_pb2.ListHistoryResponse(
            items=[_history_item(item) for item in page], next_page_token=token
        )

    async def SetFlag(
        self, request: contacts_pb2.SetFlagRequest, context: Context
    ) -> contacts_pb2.SetFlagResponse:
        contact = await self._decide(request, value=True)
        return contacts_pb2.SetFlagResponse(contact=_contact_message(contact))

    async def ClearFlag(
        self, request: contacts_pb2.ClearFlagRequest, context: Context
    ) -> contacts_pb2.ClearFlagResponse:
        contact = await self._decide(request, value=False)
        return contacts_pb2.ClearFlagResponse(contact=_contact_message(contact))

    async def _decide(
        self,
        request: contacts_pb2.SetFlagRequest | contacts_pb2.ClearFlagRequest,
        value: bool,
    ) -> Contact:
        _require(workspace_id=request.workspace_id, phone=request.phone)
        phone = phones.normalize(request.phone)
        if phone is None:
            raise InvalidArgumentError("phone is not a phone number")
        flag = _FLAGS.get(request.flag)
        if flag is None:
            raise InvalidArgumentError("flag must be opted_out or inactive")

        contact = await self._store.decide_flag(
            request.workspace_id,
            phone,
            flag,
            value,
            datetime.now(UTC),
            note=request.note,
            agent=request.agent,
        )

        log.info("flag decided by agent", flag=flag, value=value)
        return contact

    async def ListFlagHistory(
        self, request: contacts_pb2.ListFlagHistoryRequest, context: Context
    ) -> contacts_pb2.ListFlagHistoryResponse:
        _require(workspace_id=request.workspace_id, phone=request.phone)
        limit = history.page_size(request.page_size)
        after = history.decode_token(request.page_token)

        entries = await self._store.flag_history(
            request.workspace_id,
            phones.normalize(request.phone) or "",
            limit + 1,
            after,
        )

        page = entries[:limit]
        token = history.encode_token(page[-1].cursor) if len(entries) > limit else ""
        return contacts_pb2.ListFlagHistoryResponse(
            changes=[_flag_change(entry.change) for entry in page],
            next_page_token=token,
        )

    async def SetKeywords(
        self, request: contacts_pb2.SetKeywordsRequest, context: Context
    ) -> contacts_pb2.SetKeywordsResponse:
        _require(workspace_id=request.workspace_id)
        own = keywords.cleaned(request.stop_keywords, request.start_keywords)

        await self._keywords.replace(request.workspace_id, own)

        log.info("keywords set", stop=len(own.stop), start=len(own.start))
        return contacts_pb2.SetKeywordsResponse(keywords=_keywords_message(own))

    async def GetKeywords(
        self, request: contacts_pb2.GetKeywordsRequest, context: Context
    ) -> contacts_pb2.GetKeywordsResponse:
        _require(workspace_id=request.workspace_id)
        own = await self._keywords.get(request.workspace_id)
        return contacts_pb2.GetKeywordsResponse(keywords=_keywords_message(own))

    async def EraseContact(
        self, request: contacts_pb2.EraseContactRequest, context: Context
    ) -> contacts_pb2.EraseContactResponse:
        _require(workspace_id=request.workspace_id, phone=request.phone)
        phone = phones.normalize(request.phone)
        if phone is None:
            raise InvalidArgumentError("phone is not a phone number")

        erased = await self._erasure.erase(request.workspace_id, phone)

        log.info("contact erased", rows=erased)
        return contacts_pb2.EraseContactResponse(rows_erased=erased)


_FLAGS = {
    contacts_pb2.CONTACT_FLAG_OPTED_OUT: rules.OPTED_OUT,
    contacts_pb2.CONTACT_FLAG_INACTIVE: rules.INACTIVE,
}


def _require(**fields: str) -> None:
    for name, value in fields.items():
        if not value:
            raise InvalidArgumentError(f"{name} is required")


def _events_of(batch: events_pb2.EventBatch) -> ContactEvents:
    """The events of a batch that concern contacts.

    Events without a workspace or a phone number (a user id only) are left
    out: a contact is a number of a workspace.
    """
    events = ContactEvents()
    for message in batch.messages:
        if message.workspace_id and message.sender:
            events.messages.append(_inbound(message))

    for preference in batch.user_preferences:
        signal = rules.preference_signal(preference.value)
        if preference.workspace_id and preference.wa_id and signal:
            events.signals.append(
                ContactSignal(
                    preference.workspace_id,
                    phones.digits(preference.wa_id),
                    signal,
                    _occurred_at(preference),
                    note="user_preferences",
                )
            )

    for status in batch.statuses:
        outcome = rules.outcome_of(status.status, status.error.code, status.error.title)
        if status.workspace_id and status.recipient:
            events.outcomes.append(
                SendOutcome(
                    status.workspace_id,
                    phones.digits(status.recipient),
                    status.wamid,
                    outcome,
                    _occurred_at(status),
                    status.error.code,
                )
            )
    return events


def _rejected_send(rejection: contacts_pb2.SendRejection) -> SendOutcome:
    _require(
        workspace_id=rejection.workspace_id,
        phone=rejection.phone,
        send_id=rejection.send_id,
    )
    phone = phones.normalize(rejection.phone)
    if phone is None:
        raise InvalidArgumentError("phone is not a phone number")
    return SendOutcome(
        rejection.workspace_id,
        phone,
        rejection.send_id,
        rules.outcome_of("failed", rejection.error_code, rejection.error_title),
        _occurred_at(rejection, "rejected_at"),
        rejection.error_code,
    )


def _inbound(message: events_pb2.InboundMessage) -> InboundMessage:
    return InboundMessage(
        workspace_id=message.workspace_id,
        phone=phones.digits(message.sender),
        wamid=message.wamid,
        name=message.profile_name,
        at=_occurred_at(message),
        type=message.type,
        text=message.text,
        button_payload=message.button_payload,
        context_wamid=message.context_wamid,
        signal=rules.message_signal(message.type, message.opt_out, message.opt_in),
    )


def _occurred_at(event: Any, field: str = "occurred_at") -> datetime:
    if not event.HasField(field):
        return datetime.now(UTC)
    return to_datetime(getattr(event, field))


def _contact_message(contact: Contact) -> contacts_pb2.Contact:
    opted_out, inactive = contact.opted_out, contact.inactive
    return contacts_pb2.Contact(
        workspace_id=contact.workspace_id,
        phone=contact.phone,
        name=contact.name,
        opted_out=opted_out.on,
        opted_out_reason=opted_out.reason if opted_out.on else "",
        opted_out_at=to_timestamp(opted_out.changed_at if opted_out.on else None),
        inactive=inactive.on,
        inactive_reason=inactive.reason if inactive.on else "",
        inactive_at=to_timestamp(inactive.changed_at if inactive.on else None),
        failure_streak=contact.failure_streak,
        last_inbound_at=to_timestamp(contact.last_inbound_at),
    )


def _history_item(item: HistoryItem) -> contacts_pb2.HistoryItem:
    return contacts_pb2.HistoryItem(
        kind=item.kind,
        occurred_at=to_timestamp(item.at),
        wamid=item.wamid,
        type=item.type,
        text=item.text,
        context_wamid=item.context_wamid,
        flag=item.flag,
        value=item.value,
        reason=item.reason,
        page_token=history.encode_token(item.cursor),
    )


def _flag_change(change: FlagChange) -> contacts_pb2.FlagChange:
    return contacts_pb2.FlagChange(
        flag=change.flag,
        value=change.value,
        reason=change.reason,
        set_by=change.set_by,
        note=change.note,
        agent=change.agent,
        occurred_at=to_timestamp(change.at),
    )


def _keywords_message(own: Keywords) -> contacts_pb2.Keywords:
    return contacts_pb2.Keywords(stop_keywords=own.stop, start_keywords=own.start)


def _refusal(
    number: str | None, blocked: dict[str, str], markers: dict[str, str]
) -> str:
    """Why a phone may not be messaged; empty when it may."""
    if number is None:
        return phones.INVALID_NUMBER
    return blocked.get(number) or blocked.get(markers.get(number, ""), "")
