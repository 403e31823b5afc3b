"""Campaigns: their counters, failure reasons, KPIs and recipients."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from strawberry.types.nodes import SelectedField

from gateway import cursors
from gateway.context import Context, Info
from gateway.errors import GatewayError, NotFoundError
from gateway.types.cost import CampaignCost
from gateway.types.counters import Counters, Kpis
from gateway.types.pagination import PageInfo
from gateway.types.recipients import (
    RecipientConnection,
    RecipientSort,
    RecipientStatus,
    list_recipients,
    page_of_recipients,
)
from gateway.types.scalars import time_of
from gateway.types.selection import names_below, selected_below
from gateway.types.series import SeriesBucket, SeriesPoint, campaign_series
from gateway.types.standing import BusinessNumber, CampaignWarning
from xobito.metrics.v1 import metrics_pb2 as mpb

E = TypeVar("E", bound=Enum)


@strawberry.enum
class CampaignStatus(Enum):
    SCHEDULED = mpb.CAMPAIGN_STATUS_SCHEDULED
    SENDING = mpb.CAMPAIGN_STATUS_SENDING
    COMPLETED = mpb.CAMPAIGN_STATUS_COMPLETED

    @classmethod
    def of(cls, value: int) -> CampaignStatus:
        # A campaign the service has not classified has sent nothing yet.
        return cls(value or mpb.CAMPAIGN_STATUS_SCHEDULED)


@strawberry.type(description="Failed recipients sharing one error code.")
class FailureReason:
    code: int
    category: str
    title: str
    action: str
    count: int
    hint: str | None = strawberry.field(
        description="The campaign warning that explains these failures."
    )


@strawberry.type
class Campaign:
    id: strawberry.ID
    name: str
    status: CampaignStatus
    recipient_total: int
    template_name: str
    template_language: str | None
    phone_number_id: str
    created_at: datetime | None
    counters: Counters
    # Pages of recipients read in place of the campaign, by response key.
    pages: strawberry.Private[dict[str, RecipientConnection]] = dataclasses.field(
        default_factory=dict
    )

    @classmethod
    def of(cls, message: mpb.Campaign) -> Campaign:
        return cls(
            id=strawberry.ID(message.id),
            name=message.name,
            status=CampaignStatus.of(message.status),
            recipient_total=message.recipient_total,
            template_name=message.template_name,
            template_language=message.template_language or None,
            phone_number_id=message.phone_number_id,
            created_at=time_of(message, "created_at"),
            counters=Counters.of(message.counters, message.recipient_total),
        )

    @strawberry.field
    def kpis(self) -> Kpis:
        return Kpis.of(self.counters)

    @strawberry.field
    async def failure_reasons(self, info: Info) -> list[FailureReason]:
        context = info.context
        try:
            reasons = await context.metrics.list_failure_reasons(
                context.workspace, self.id
            )
        except NotFoundError:
            return []
        return [
            FailureReason(
                code=reason.code,
                category=reason.category,
                title=reason.title,
                action=reason.action,
                count=reason.count,
                hint=reason.hint or None,
            )
            for reason in reasons
        ]

    @strawberry.field
    async def warnings(self, info: Info) -> list[CampaignWarning]:
        context = info.context
        try:
            warnings = await context.metrics.list_campaign_warnings(
                context.workspace, self.id
            )
        except NotFoundError:
            return []
        return [CampaignWarning.of(warning) for warning in warnings]

    @strawberry.field
    async def business_number(self, info: Info) -> BusinessNumber | None:
        context = info.context
        try:
            number = await context.metrics.get_business_number(
                context.workspace, self.id
            )
        except NotFoundError:
            return None
        return BusinessNumber.of(number)

    @strawberry.field
    async def cost(self, info: Info) -> CampaignCost:
        context = info.context
        try:
            cost = await context.metrics.get_campaign_cost(context.workspace, self.id)
        except NotFoundError:
            return CampaignCost(billable=0, by_category=[])
        return CampaignCost.of(cost)

    @strawberry.field
    async def recipients(
        self,
        info: Info,
        status: RecipientStatus | None = None,
        search: str | None = None,
        sort: RecipientSort | None = None,
        first: int | None = None,
        after: str | None = None,
        failure_category: str | None = None,
    ) -> RecipientConnection:
        read_already = self.pages.get(str(info.path.key))
        if read_already is not None:
            return read_already
        return await list_recipients(
            info.context,
            self.id,
            status=status,
            search=search,
            sort=sort,
            first=first,
            after=after,
            failure_category=failure_category,
            selected=selected_below(info, "edges", "node"),
        )

    @strawberry.field
    async def series(
        self, info: Info, bucket: SeriesBucket = SeriesBucket.MINUTE
    ) -> list[SeriesPoint]:
        return await campaign_series(info.context, self.id, bucket)


@strawberry.type
class CampaignEdge:
    cursor: str
    node: Campaign


@strawberry.type
class CampaignConnection:
    total_count: int
    page_info: PageInfo
    edges: list[CampaignEdge]


@strawberry.type(description="A campaign's counters, as they change.")
class CampaignCounters(Counters):
    campaign_id: strawberry.ID
    recipient_total: int
    status: CampaignStatus

    @classmethod
    def from_message(cls, message: mpb.CampaignCounters) -> CampaignCounters:
        counters = message.counters
        return cls(
            campaign_id=strawberry.ID(message.campaign_id),
            recipient_total=message.recipient_total,
            status=CampaignStatus.of(message.status),
            sent=counters.sent,
            delivered=counters.delivered,
            read=counters.read,
            failed=counters.failed,
            replied=counters.replied,
            opted_out=counters.opted_out,
            total=message.recipient_total,
        )


# What a query may select of a campaign for its pages of recipients to
# stand in for the campaign itself.
_ANSWERED_BY_PAGES = frozenset({"id", "__typename", "recipients"})


async def find_campaign(info: Info, campaign_id: str) -> Campaign | None:
    """The campaign, or None when it is unknown or another workspace's.

    A query that selects only the campaign's id and recipients gets the
    pages at once instead: metrics checks the campaign's workspace for
    them as for the campaign, so the campaign is not read. Should a page
    fail otherwise, the campaign is read and its recipients field fails
    in its own place, as it did before.
    """
    pages = _recipients_only(info)
    if pages is None:
        return await get_campaign(info.context, campaign_id)

    keys = list(pages)
    reads = [
        page_of_recipients(
            info.context,
            campaign_id,
            **_page_arguments(field),
            selected=names_below([field], "edges", "node"),
        )
        for field in pages.values()
    ]
    try:
        connections = await asyncio.gather(*reads)
    except NotFoundError:
        return None
    except GatewayError:
        return await get_campaign(info.context, campaign_id)
    # Nothing reads the fields of the campaign the query does not select.
    campaign = Campaign.of(mpb.Campaign(id=campaign_id))
    campaign.pages = dict(zip(keys, connections, strict=True))
    return campaign


def _recipients_only(info: Info) -> dict[str, SelectedField] | None:
    """The recipients fields by response key, when the query selects
    nothing else of the campaign but its id; fragments are not looked
    into."""
    selections = [child for field in info.selected_fields for child in field.selections]
    pages: dict[str, SelectedField] = {}
    for selection in selections:
        if not isinstance(selection, SelectedField):
            return None
        if selection.name not in _ANSWERED_BY_PAGES:
            return None
        if selection.name == "recipients":
            pages[selection.alias or selection.name] = selection
    return pages or None


def _page_arguments(field: SelectedField) -> dict[str, Any]:
    """The recipients field's arguments as its resolver takes them: a
    literal comes as the document spells it, a variable as its value."""
    arguments = field.arguments
    first = arguments.get("first")
    return {
        "status": _member(RecipientStatus, arguments.get("status")),
        "search": arguments.get("search"),
        "sort": _member(RecipientSort, arguments.get("sort")),
        "first": None if first is None else int(first),
        "after": arguments.get("after"),
        "failure_category": arguments.get("failureCategory"),
    }


def _member(kind: type[E], value: object) -> E | None:
    if value is None or isinstance(value, kind):
        return value
    return kind[str(value)]


async def get_campaign(context: Context, campaign_id: str) -> Campaign | None:
    """The campaign, or None when it is unknown or another workspace's."""
    try:
        message = await context.metrics.get_campaign(context.workspace, campaign_id)
    except NotFoundError:
        return None
    return Campaign.of(message)


async def list_campaigns(
    context: Context, first: int | None, after: str | None
) -> CampaignConnection:
    """The workspace's campaigns, newest first."""

    async def fetch(page_token: str, page_size: int) -> cursors.Page[mpb.Campaign]:
        request = mpb.ListCampaignsRequest(
            workspace_id=context.workspace,
            page_size=page_size,
            page_token=page_token,
        )
        answer = await context.metrics.list_campaigns(request)
        return cursors.Page(
            answer.campaigns, answer.next_page_token, answer.total_count
        )

    page = await cursors.paginate(fetch, first, after)
    return CampaignConnection(
        total_count=page.total_count,
        page_info=PageInfo.of(page),
        edges=[
            CampaignEdge(cursor=cursor, node=Campaign.of(message))
            for cursor, message in zip(page.cursors, page.rows, strict=True)
        ],
    )
