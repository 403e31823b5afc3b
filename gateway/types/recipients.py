"""A campaign's recipients: one row each, with its message's fate."""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime
from enum import Enum

import strawberry

from gateway import cursors
from gateway.context import Context, Info
from gateway.errors import NotFoundError
from gateway.types.contact import Contact
from gateway.types.pagination import PageInfo
from gateway.types.scalars import from_timestamp, time_of
from xobito.metrics.v1 import metrics_pb2 as mpb


@strawberry.enum(description="The furthest a recipient's message has reached.")
class RecipientStatus(Enum):
    PENDING = mpb.RECIPIENT_STATUS_PENDING
    SENT = mpb.RECIPIENT_STATUS_SENT
    DELIVERED = mpb.RECIPIENT_STATUS_DELIVERED
    READ = mpb.RECIPIENT_STATUS_READ
    FAILED = mpb.RECIPIENT_STATUS_FAILED


@strawberry.enum
class RecipientSort(Enum):
    SENT_AT = mpb.RECIPIENT_SORT_SENT_AT
    SENT_AT_DESC = mpb.RECIPIENT_SORT_SENT_AT_DESC
    DELIVERED_AT = mpb.RECIPIENT_SORT_DELIVERED_AT
    DELIVERED_AT_DESC = mpb.RECIPIENT_SORT_DELIVERED_AT_DESC
    READ_AT = mpb.RECIPIENT_SORT_READ_AT
    READ_AT_DESC = mpb.RECIPIENT_SORT_READ_AT_DESC
    STATUS = mpb.RECIPIENT_SORT_STATUS
    STATUS_DESC = mpb.RECIPIENT_SORT_STATUS_DESC


@strawberry.type(description="Why a message failed, and what to do about it.")
class Failure:
    code: int
    category: str
    title: str
    action: str
    retryable: bool


@strawberry.type(description="One status Meta reported, at Meta's time.")
class TimelineEntry:
    status: str
    at: datetime


async def _contact(root: Recipient, info: Info) -> Contact | None:
    # Batched: a page of rows makes one GetContacts call.
    found = await info.context.contact_loader.load(root.phone)
    return None if found is None else Contact.of(found)


# The fields of a Recipient that cost a conversion, as documents name them.
COSTLY_FIELDS = frozenset(
    {
        "sentAt",
        "deliveredAt",
        "readAt",
        "failedAt",
        "repliedAt",
        "optedOutAt",
        "failure",
        "timeline",
    }
)


@strawberry.type
class Recipient:
    phone: str
    name: str | None
    status: RecipientStatus
    wamid: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    replied_at: datetime | None
    opted_out_at: datetime | None
    failure: Failure | None
    timeline: list[TimelineEntry]

    contact: Contact | None = strawberry.field(
        resolver=_contact,
        description="The contact behind the phone; null when there is none yet.",
    )

    @classmethod
    def of(cls, row: mpb.RecipientRow, selected: Set[str] = COSTLY_FIELDS) -> Recipient:
        """The row as a Recipient. Of COSTLY_FIELDS, those not selected
        are left empty: nothing reads them."""
        failure = None
        if "failure" in selected and row.HasField("failure"):
            failure = Failure(
                code=row.failure.code,
                category=row.failure.category,
                title=row.failure.title,
                action=row.failure.action,
                retryable=row.failure.retryable,
            )
        return cls(
            phone=row.phone,
            name=row.name or None,
            status=RecipientStatus(row.status or mpb.RECIPIENT_STATUS_PENDING),
            wamid=row.wamid or None,
            sent_at=_time(row, "sent_at", "sentAt" in selected),
            delivered_at=_time(row, "delivered_at", "deliveredAt" in selected),
            read_at=_time(row, "read_at", "readAt" in selected),
            failed_at=_time(row, "failed_at", "failedAt" in selected),
            replied_at=_time(row, "replied_at", "repliedAt" in selected),
            opted_out_at=_time(row, "opted_out_at", "optedOutAt" in selected),
            failure=failure,
            timeline=[
                TimelineEntry(status=entry.status, at=from_timestamp(entry.at))
                for entry in row.timeline
            ]
            if "timeline" in selected
            else [],
        )


def _time(row: mpb.RecipientRow, field: str, selected: bool) -> datetime | None:
    return time_of(row, field) if selected else None


@strawberry.type
class RecipientEdge:
    cursor: str
    node: Recipient


@strawberry.type
class RecipientConnection:
    total_count: int = strawberry.field(
        description="Every recipient the filters match; a search counts"
        " its first 1,000 matches only."
    )
    total_count_capped: bool = strawberry.field(
        description="A search matched more than the 1,000 recipients totalCount counts."
    )
    page_info: PageInfo
    edges: list[RecipientEdge]

    @classmethod
    def empty(cls) -> RecipientConnection:
        return cls(
            total_count=0,
            total_count_capped=False,
            page_info=PageInfo(has_next_page=False, end_cursor=None),
            edges=[],
        )


async def list_recipients(
    context: Context,
    campaign_id: str,
    *,
    status: RecipientStatus | None,
    search: str | None,
    sort: RecipientSort | None,
    first: int | None,
    after: str | None,
    failure_category: str | None = None,
    selected: Set[str] = COSTLY_FIELDS,
) -> RecipientConnection:
    """One page of a campaign's recipients, as the arguments ask, with
    the fields of each row that are selected (see Recipient.of); none
    when the campaign is unknown or another workspace's."""
    try:
        return await page_of_recipients(
            context,
            campaign_id,
            status=status,
            search=search,
            sort=sort,
            first=first,
            after=after,
            failure_category=failure_category,
            selected=selected,
        )
    except NotFoundError:
        return RecipientConnection.empty()


async def page_of_recipients(
    context: Context,
    campaign_id: str,
    *,
    status: RecipientStatus | None,
    search: str | None,
    sort: RecipientSort | None,
    first: int | None,
    after: str | None,
    failure_category: str | None = None,
    selected: Set[str] = COSTLY_FIELDS,
) -> RecipientConnection:
    """As list_recipients, but NotFoundError when the campaign is unknown
    or another workspace's."""

    async def fetch(page_token: str, page_size: int) -> cursors.Page[mpb.RecipientRow]:
        request = mpb.ListRecipientsRequest(
            workspace_id=context.workspace,
            campaign_id=campaign_id,
            status=status.value if status else mpb.RECIPIENT_STATUS_UNSPECIFIED,
            search=search or "",
            failure_category=failure_category or "",
            sort=sort.value if sort else mpb.RECIPIENT_SORT_UNSPECIFIED,
            page_size=page_size,
            page_token=page_token,
            omit_timeline="timeline" not in selected,
        )
        answer = await context.metrics.list_recipients(request)
        return cursors.Page(
            answer.recipients,
            answer.next_page_token,
            answer.total_count,
            answer.total_count_capped,
        )

    page = await cursors.paginate(fetch, first, after)
    return RecipientConnection(
        total_count=page.total_count,
        total_count_capped=page.total_count_capped,
        page_info=PageInfo.of(page),
        edges=[
            RecipientEdge(cursor=cursor, node=Recipient.of(row, selected))
            for cursor, row in zip(page.cursors, page.rows, strict=True)
        ],
    )
