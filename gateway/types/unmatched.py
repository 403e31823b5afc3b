"""Statuses whose wamid no send has brought: listed once old enough."""

from __future__ import annotations

from datetime import datetime

import strawberry

from gateway import cursors
from gateway.context import Context
from gateway.types.pagination import PageInfo
from gateway.types.scalars import from_timestamp
from xobito.metrics.v1 import metrics_pb2 as mpb


@strawberry.type(description="A status for a message no campaign registered.")
class UnmatchedStatus:
    wamid: str
    status: str
    occurred_at: datetime
    received_at: datetime
    phone_number_id: str | None

    @classmethod
    def of(cls, message: mpb.UnmatchedStatus) -> UnmatchedStatus:
        return cls(
            wamid=message.wamid,
            status=message.status,
            occurred_at=from_timestamp(message.occurred_at),
            received_at=from_timestamp(message.received_at),
            phone_number_id=message.phone_number_id or None,
        )


@strawberry.type
class UnmatchedStatusEdge:
    cursor: str
    node: UnmatchedStatus


@strawberry.type
class UnmatchedStatusConnection:
    total_count: int
    page_info: PageInfo
    edges: list[UnmatchedStatusEdge]


async def list_unmatched_statuses(
    context: Context, first: int | None, after: str | None
) -> UnmatchedStatusConnection:
    """The workspace's unmatched statuses, the longest waiting first."""

    async def fetch(
        page_token: str, page_size: int
    ) -> cursors.Page[mpb.UnmatchedStatus]:
        request = mpb.ListUnmatchedStatusesRequest(
            workspace_id=context.workspace,
            page_size=page_size,
            page_token=page_token,
        )
        answer = await context.metrics.list_unmatched_statuses(request)
        return cursors.Page(answer.statuses, answer.next_page_token, answer.total_count)

    page = await cursors.paginate(fetch, first, after)
    return UnmatchedStatusConnection(
        total_count=page.total_count,
        page_info=PageInfo.of(page),
        edges=[
            UnmatchedStatusEdge(cursor=cursor, node=UnmatchedStatus.of(message))
            for cursor, message in zip(page.cursors, page.rows, strict=True)
        ],
    )
