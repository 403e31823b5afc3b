"""Contacts: may they be messaged, and what they wrote to the business."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway import cursors
from gateway.context import Context, Info
from gateway.errors import NotFoundError
from gateway.history import Item, merged
from gateway.types.pagination import PageInfo
from gateway.types.scalars import from_timestamp, time_of
from xobito import phones
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.metrics.v1 import metrics_pb2 as mpb

if TYPE_CHECKING:
    from gateway.types.recipients import TimelineEntry

CAMPAIGN_MESSAGE = "campaign_message"


@strawberry.type(
    description="An inbound message, a change of the contact's flags, or a "
    "campaign message sent to the contact."
)
class HistoryItem:
    kind: str = strawberry.field(
        description="inbound_message, flag_change or campaign_message"
    )
    at: datetime | None
    wamid: str | None
    type: str | None
    text: str | None
    context_wamid: str | None
    flag: str | None
    value: bool | None
    reason: str | None
    campaign_id: strawberry.ID | None = None
    campaign_name: str | None = None
    template_name: str | None = None
    status: str | None = strawberry.field(
        default=None,
        description="For campaign messages: PENDING, SENT, FAILED, DELIVERED or READ.",
    )
    timeline: (
        list[Annotated[TimelineEntry, strawberry.lazy("gateway.types.recipients")]]
        | None
    ) = strawberry.field(
        default=None, description="For campaign messages: Meta's statuses."
    )

    @classmethod
    def of(cls, item: cpb.HistoryItem | mpb.ContactSend) -> HistoryItem:
        if isinstance(item, mpb.ContactSend):
            return cls.of_send(item)
        is_flag = bool(item.flag)
        return cls(
            kind=item.kind,
            at=time_of(item, "occurred_at"),
            wamid=item.wamid or None,
            type=item.type or None,
            text=item.text or None,
            context_wamid=item.context_wamid or None,
            flag=item.flag or None,
            value=item.value if is_flag else None,
            reason=item.reason or None,
        )

    @classmethod
    def of_send(cls, send: mpb.ContactSend) -> HistoryItem:
        # Imported here: the recipients module imports this one.
        from gateway.types.recipients import TimelineEntry

        status = mpb.RecipientStatus.Name(send.status)
        return cls(
            kind=CAMPAIGN_MESSAGE,
            at=time_of(send, "sent_at"),
            wamid=send.wamid or None,
            type=None,
            text=None,
            context_wamid=None,
            flag=None,
            value=None,
            reason=None,
            campaign_id=strawberry.ID(send.campaign_id),
            campaign_name=send.campaign_name,
            template_name=send.template_name,
            status=status.removeprefix("RECIPIENT_STATUS_"),
            timeline=[
                TimelineEntry(status=entry.status, at=from_timestamp(entry.at))
                for entry in send.timeline
            ],
        )


@strawberry.type
class HistoryEdge:
    cursor: str
    node: HistoryItem


@strawberry.type
class HistoryConnection:
    page_info: PageInfo
    edges: list[HistoryEdge]


@strawberry.type(description="One line of the audit trail of a contact's flags.")
class FlagChange:
    flag: str = strawberry.field(description="opted_out or inactive")
    value: bool
    reason: str
    set_by: str = strawberry.field(description="rule, meta or agent")
    note: str | None
    agent: str | None = strawberry.field(
        description="Who decided, in the agent's own words."
    )
    at: datetime | None

    @classmethod
    def of(cls, change: cpb.FlagChange) -> FlagChange:
        return cls(
            flag=change.flag,
            value=change.value,
            reason=change.reason,
            set_by=change.set_by,
            note=change.note or None,
            agent=change.agent or None,
            at=time_of(change, "occurred_at"),
        )


@strawberry.type
class FlagChangeEdge:
    cursor: str
    node: FlagChange


@strawberry.type
class FlagChangeConnection:
    page_info: PageInfo
    edges: list[FlagChangeEdge]


@strawberry.type
class Contact:
    phone: str
    name: str | None
    inactive: bool
    inactive_reason: str | None
    inactive_at: datetime | None
    opted_out: bool
    opted_out_reason: str | None
    opted_out_at: datetime | None
    failure_streak: int = strawberry.field(
        description="Consecutive sends that failed as the number can't receive."
    )
    last_inbound_at: datetime | None

    @classmethod
    def of(cls, contact: cpb.Contact) -> Contact:
        return cls(
            phone=contact.phone,
            name=contact.name or None,
            inactive=contact.inactive,
            inactive_reason=contact.inactive_reason or None,
            inactive_at=time_of(contact, "inactive_at"),
            opted_out=contact.opted_out,
            opted_out_reason=contact.opted_out_reason or None,
            opted_out_at=time_of(contact, "opted_out_at"),
            failure_streak=contact.failure_streak,
            last_inbound_at=time_of(contact, "last_inbound_at"),
        )

    @strawberry.field
    def inactive_candidate(self) -> bool:
        return not self.inactive and self.failure_streak > 0

    @strawberry.field
    async def history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> HistoryConnection:
        """What they wrote, their flags' changes and the campaign messages
        sent to them, newest first."""
        context = info.context

        async def written(page_token: str, page_size: int) -> cursors.Page[Item]:
            request = cpb.ListHistoryRequest(
                workspace_id=context.workspace,
                phone=self.phone,
                page_size=page_size,
                page_token=page_token,
            )
            try:
                answer = await context.contacts.list_history(request)
            except NotFoundError:
                return cursors.Page([], "")
            return cursors.Page(answer.items, answer.next_page_token)

        async def sent(page_token: str, page_size: int) -> cursors.Page[Item]:
            answer = await context.metrics.list_contact_sends(
                mpb.ListContactSendsRequest(
                    workspace_id=context.workspace,
                    phone=self.phone,
                    page_size=page_size,
                    page_token=page_token,
                )
            )
            return cursors.Page(answer.sends, answer.next_page_token)

        page = await merged(written, sent, first, after)
        return HistoryConnection(
            page_info=PageInfo.of(page),
            edges=[
                HistoryEdge(cursor=cursor, node=HistoryItem.of(item))
                for cursor, item in zip(page.cursors, page.rows, strict=True)
            ],
        )

    @strawberry.field
    async def flag_history(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> FlagChangeConnection:
        """The audit trail of the flags, newest first."""
        context = info.context

        async def fetch(
            page_token: str, page_size: int
        ) -> cursors.Page[cpb.FlagChange]:
            request = cpb.ListFlagHistoryRequest(
                workspace_id=context.workspace,
                phone=self.phone,
                page_size=page_size,
                page_token=page_token,
            )
            answer = await context.contacts.list_flag_history(request)
            return cursors.Page(answer.changes, answer.next_page_token)

        page = await cursors.paginate(fetch, first, after)
        return FlagChangeConnection(
            page_info=PageInfo.of(page),
            edges=[
                FlagChangeEdge(cursor=cursor, node=FlagChange.of(change))
                for cursor, change in zip(page.cursors, page.rows, strict=True)
            ],
        )


async def get_contact(context: Context, phone: str) -> Contact | None:
    """The contact, or None when the workspace has never seen the number."""
    digits = phones.normalize(phone)
    if digits is None:
        return None
    try:
        contact = await context.contacts.get_contact(context.workspace, digits)
    except NotFoundError:
        return None
    return Contact.of(contact)
