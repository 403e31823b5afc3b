"""A campaign's recipients: the table, failure reasons, billable messages."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from services.metrics import billing, cursors, series, store
from services.metrics.campaigns import in_workspace, page_size
from services.metrics.counters import Counters
from services.metrics.ledger import Pool, state_of
from services.metrics.search import Search
from services.metrics.statuses import RecipientState, Status, Tally
from services.metrics.store import RecipientQuery, SortColumn
from xobito import failures
from xobito.database import reading
from xobito.errors import InvalidArgumentError
from xobito.failures import FailureCategory

_CATEGORIES = frozenset(category.value for category in FailureCategory)

# A search counts this many of its matches at most: past it, counting
# would read most of a large campaign, and someone searching wants rows.
SEARCH_COUNT_LIMIT = 1_000


class RecipientSort(Enum):
    """A sort order: the column, and whether it runs descending."""

    # The order the recipients were added in.
    ADDED = ("id", False)
    SENT_AT = ("sent_at", False)
    SENT_AT_DESC = ("sent_at", True)
    DELIVERED_AT = ("delivered_at", False)
    DELIVERED_AT_DESC = ("delivered_at", True)
    READ_AT = ("read_at", False)
    READ_AT_DESC = ("read_at", True)
    STATUS = ("status", False)
    STATUS_DESC = ("status", True)

    @property
    def column(self) -> SortColumn:
        column: SortColumn = self.value[0]
        return column

    @property
    def descending(self) -> bool:
        return bool(self.value[1])


@dataclass(frozen=True, slots=True)
class RecipientView:
    phone: str
    name: str
    state: RecipientState
    # Meta's statuses as (status upper-cased, time), oldest first.
    timeline: list[tuple[str, datetime]]


@dataclass(frozen=True, slots=True)
class RecipientPage:
    recipients: list[RecipientView]
    next_page_token: str
    total_count: int
    # A search matched more than SEARCH_COUNT_LIMIT, the total it shows.
    total_count_capped: bool = False


@dataclass(frozen=True, slots=True)
class FailureReason:
    code: int
    category: str
    title: str
    action: str
    count: int
    # The title of the campaign warning that explains these failures.
    hint: str = ""


@dataclass(frozen=True, slots=True)
class CampaignCost:
    """Billable messages (not money), in all and per pricing category."""

    billable: int
    by_category: list[tuple[str, int]]


class Recipients:
    def __init__(self, pool: Pool, counters: Counters | None = None) -> None:
        self._pool = pool
        # The live counters already count the recipients of each status:
        # a page filtered by status alone takes its total from them
        # instead of counting up to a million rows again.
        self._counters = counters

    async def page(
        self,
        workspace_id: str,
        campaign_id: str,
        *,
        status: Status | None = None,
        search: str = "",
        failure_category: str = "",
        sort: RecipientSort = RecipientSort.ADDED,
        size: int = 0,
        token: str = "",
        timelines: bool = True,
    ) -> RecipientPage:
        """One page of the campaign's recipients, filtered and sorted;
        without timelines, each row's timeline is left empty."""
        limit = page_size(size)
        after = _after(token, sort)
        if failure_category and failure_category not in _CATEGORIES:
            raise InvalidArgumentError(f"unknown failure category {failure_category!r}")
        query = RecipientQuery(
            campaign_id, status, Search.parse(search), failure_category
        )

        if query.search and sort is RecipientSort.ADDED:
            rows, timeline_of, total, capped = await self._search(
                workspace_id, query, after, limit, timelines
            )
        else:
            # The rows and the total at once, on two connections.
            (rows, timeline_of), (total, capped) = await asyncio.gather(
                self._rows(workspace_id, query, sort, after, limit, timelines),
                self._total(workspace_id, query),
            )

        next_token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_token = cursors.encode(sort.name, last[sort.column], last["id"])
        views = [
            RecipientView(
                phone=row["phone"],
                name=row["name"],
                state=state_of(row),
                timeline=[
                    (status.upper(), at)
                    for status, at in timeline_of.get(row["id"], [])
                ],
            )
            for row in rows
        ]
        return RecipientPage(views, next_token, total, capped)

    async def _rows(
        self,
        workspace_id: str,
        query: RecipientQuery,
        sort: RecipientSort,
        after: tuple[object, int] | None,
        limit: int,
        timelines: bool,
    ) -> tuple[list[dict[str, Any]], dict[int, list[tuple[str, datetime]]]]:
        """Up to limit + 1 rows, and the timelines of the first limit
        when asked for.

        Read while _total checks the campaign's workspace: they are
        thrown away if it is not the caller's.
        """
        async with reading(self._pool) as conn:
            rows = await store.recipients_page(
                conn, query, sort.column, sort.descending, after, limit + 1
            )
            if not timelines:
                return rows, {}
            ids = [row["id"] for row in rows[:limit]]
            return rows, await store.timelines(conn, workspace_id, ids)

    async def _search(
        self,
        workspace_id: str,
        query: RecipientQuery,
        after: tuple[object, int] | None,
        limit: int,
        timelines: bool,
    ) -> tuple[list[dict[str, Any]], dict[int, list[tuple[str, datetime]]], int, bool]:
        """A search's page in the order recipients were added, with its
        total and whether that stopped at SEARCH_COUNT_LIMIT.

        Counting lists the matches' ids; when they are all in the list,
        the page is read from it by id instead of scanning the trigram
        index a second time. The list checks the campaign's workspace
        too: only an empty one needs telling apart from a foreign
        campaign.
        """
        async with reading(self._pool) as conn:
            ids = await store.matching_ids(
                conn, query, SEARCH_COUNT_LIMIT + 1, workspace_id
            )
            if not ids:
                await in_workspace(conn, workspace_id, query.campaign_id)
            if len(ids) <= SEARCH_COUNT_LIMIT:
                after_id = -1 if after is None else after[1]
                page = [id_ for id_ in ids if id_ > after_id][: limit + 1]
                rows = await store.recipients_by_id(conn, page)
                timeline_of = (
                    await store.timelines(conn, workspace_id, page[:limit])
                    if timelines
                    else {}
                )
                return rows, timeline_of, len(ids), False
        sort = RecipientSort.ADDED
        rows, timeline_of = await self._rows(
            workspace_id, query, sort, after, limit, timelines
        )
        return rows, timeline_of, SEARCH_COUNT_LIMIT, True

    async def _total(
        self, workspace_id: str, query: RecipientQuery
    ) -> tuple[int, bool]:
        """The query's total, and whether it stopped at SEARCH_COUNT_LIMIT,
        once the campaign is known to be the workspace's."""
        async with reading(self._pool) as conn:
            await in_workspace(conn, workspace_id, query.campaign_id)
            if self._counters is not None and not counts_rows(query):
                tally = await self._counters.tally(query.campaign_id)
                return _count_of(tally, query.status), False
            limit = count_limit(query)
            total = await store.recipient_count(conn, query, limit)
        if limit is not None and total >= limit:
            return SEARCH_COUNT_LIMIT, True
        return total, False

    async def failure_reasons(
        self, workspace_id: str, campaign_id: str
    ) -> list[FailureReason]:
        """Failed recipients grouped by error code, most frequent first."""
        async with reading(self._pool) as conn:
            await in_workspace(conn, workspace_id, campaign_id)
            counts = await store.failure_counts(conn, campaign_id)
        reasons = []
        for code, meta_title, count in counts:
            info = failures.lookup(code, meta_title)
            reasons.append(
                FailureReason(code, info.category.value, info.title, info.action, count)
            )
        return reasons

    async def cost(self, workspace_id: str, campaign_id: str) -> CampaignCost:
        """How many of the campaign's messages Meta bills, per category."""
        async with reading(self._pool) as conn:
            await in_workspace(conn, workspace_id, campaign_id)
            counts = await billing.billable_counts(conn, campaign_id)
        return CampaignCost(sum(count for _, count in counts), counts)

    async def series(
        self, workspace_id: str, campaign_id: str, bucket: series.Bucket
    ) -> list[series.SeriesPoint]:
        """What happened to the campaign's messages, per time bucket."""
        async with reading(self._pool) as conn:
            await in_workspace(conn, workspace_id, campaign_id)
            return await series.campaign_series(conn, campaign_id, bucket)


def counts_rows(query: RecipientQuery) -> bool:
    """Whether the query's total takes a count over the rows.

    A filter by status alone, or none, is counted by the live counters.
    """
    return bool(query.search) or bool(query.failure_category)


def count_limit(query: RecipientQuery) -> int | None:
    """How many rows the count reads at most: one past the limit, so
    that it tells whether there are more."""
    return SEARCH_COUNT_LIMIT + 1 if query.search else None


def _after(token: str, sort: RecipientSort) -> tuple[object, int] | None:
    """The sort key a page token continues after."""
    if not token:
        return None
    sort_name, value, raw_id = cursors.decode(token, 3)
    if sort_name != sort.name:
        raise InvalidArgumentError("page_token belongs to another sort")
    recipient_id = cursors.decode_int(raw_id)
    if sort.column in ("sent_at", "delivered_at", "read_at"):
        return cursors.decode_time(value), recipient_id
    return cursors.decode_int(value), recipient_id


def _count_of(tally: Tally, status: Status | None) -> int:
    """How many of the campaign's recipients have status (None: all)."""
    match status:
        case None:
            return tally.recipient_total
        case Status.PENDING:
            return tally.pending
        case Status.SENT:
            return tally.sent_only
        case Status.FAILED:
            return tally.failed_accepted + tally.failed_rejected
        case Status.DELIVERED:
            return tally.delivered_only
        case Status.READ:
            return tally.read
