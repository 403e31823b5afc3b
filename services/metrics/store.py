"""SQL for campaigns, routes, and the recipient table's reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from psycopg import sql

from services.metrics.ledger import Conn
from services.metrics.search import Search, like_pattern
from services.metrics.statuses import Status

RouteKind = Literal["phone_number", "waba"]


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: str
    workspace_id: str
    name: str
    phone_number_id: str
    template_name: str
    waba_id: str = ""
    created_at: datetime | None = None
    template_language: str = ""


_CAMPAIGN_COLUMNS = """
    id, workspace_id, name, phone_number_id, template_name, waba_id,
    created_at, template_language
"""


def _campaign(row: dict[str, Any]) -> CampaignRecord:
    return CampaignRecord(**row)


async def insert_campaign(conn: Conn, campaign: CampaignRecord) -> bool:
    """Insert the campaign unless its id exists; True if inserted."""
    cursor = await conn.execute(
        """
        INSERT INTO metrics.campaigns
            (id, workspace_id, name, phone_number_id, template_name, waba_id,
             template_language)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (id) DO NOTHING
        """,
        [
            campaign.id,
            campaign.workspace_id,
            campaign.name,
            campaign.phone_number_id,
            campaign.template_name,
            campaign.waba_id,
            campaign.template_language,
        ],
    )
    return cursor.rowcount == 1


async def campaign(
    conn: Conn, campaign_id: str, workspace_id: str | None = None
) -> CampaignRecord | None:
    """The campaign, if it exists (in that workspace, when given)."""
    cursor = await conn.execute(
        f"""
        SELECT {_CAMPAIGN_COLUMNS} FROM metrics.campaigns
        WHERE id = %s AND (%s::text IS NULL OR workspace_id = %s)
        """,
        [campaign_id, workspace_id, workspace_id],
    )
    row = await cursor.fetchone()
    return _campaign(row) if row else None


async def campaigns_page(
    conn: Conn,
    workspace_id: str,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[CampaignRecord]:
    """The workspace's campaigns, newest first, after a keyset cursor."""
    after_at, after_id = after or (None, None)
    cursor = await conn.execute(
        f"""
        SELECT {_CAMPAIGN_COLUMNS} FROM metrics.campaigns
        WHERE workspace_id = %s
          AND (%s::timestamptz IS NULL OR (created_at, id) < (%s, %s))
        ORDER BY created_at DESC, id DESC
        LIMIT %s
        """,
        [workspace_id, after_at, after_at, after_id, limit],
    )
    return [_campaign(row) for row in await cursor.fetchall()]


async def campaign_count(conn: Conn, workspace_id: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM metrics.campaigns WHERE workspace_id = %s",
        [workspace_id],
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


# -- routes ------------------------------------------------------------


async def claim_route(conn: Conn, kind: RouteKind, key: str, workspace_id: str) -> str:
    """Give the key to the workspace unless taken; return its owner."""
    await conn.execute(
        """
        INSERT INTO metrics.routes (kind, key, workspace_id)
        VALUES (%s, %s, %s)
        ON CONFLICT (kind, key) DO NOTHING
        """,
        [kind, key, workspace_id],
    )
    cursor = await conn.execute(
        "SELECT workspace_id FROM metrics.routes WHERE kind = %s AND key = %s",
        [kind, key],
    )
    row = await cursor.fetchone()
    assert row is not None
    return str(row["workspace_id"])


async def routes(conn: Conn, kind: RouteKind, keys: Sequence[str]) -> dict[str, str]:
    """The workspace of each known key."""
    cursor = await conn.execute(
        "SELECT key, workspace_id FROM metrics.routes"
        " WHERE kind = %s AND key = ANY(%s::text[])",
        [kind, list(keys)],
    )
    return {row["key"]: row["workspace_id"] for row in await cursor.fetchall()}


# -- the recipient table -----------------------------------------------

SortColumn = Literal["id", "status", "sent_at", "delivered_at", "read_at"]
# Columns that may be null: sorted with their nulls last, either way.
_NULLABLE = {"sent_at", "delivered_at", "read_at"}

_ROW_COLUMNS = """
    id, campaign_id, phone, name, status, attempt, wamid, called_at, meta_sent_at,
    sent_at, delivered_at, read_at, failed_at, failure_code, failure_title,
    failure_category, replied_at, opted_out_at
"""


@dataclass(frozen=True, slots=True)
class RecipientQuery:
    campaign_id: str
    status: Status | None = None
    search: Search = field(default_factory=Search)
    # Failed recipients whose failure has this category; "" for all.
    failure_category: str = ""


def _where(query: RecipientQuery) -> tuple[list[sql.Composable], dict[str, Any]]:
    where: list[sql.Composable] = [sql.SQL("campaign_id = %(campaign)s")]
    params: dict[str, Any] = {"campaign": query.campaign_id}
    if query.status is not None:
        where.append(sql.SQL("status = %(status)s"))
        params["status"] = int(query.status)
    if query.failure_category:
        # A failure shows only while the recipient's status is FAILED. A
        # literal, so that the partial index matches even a generic plan.
        failed = sql.Literal(int(Status.FAILED))
        where.append(sql.SQL("status = {}").format(failed))
        where.append(sql.SQL("failure_category = %(category)s"))
        params["category"] = query.failure_category
    if query.search.phone_digits:
        where.append(sql.SQL("phone LIKE %(phone)s"))
        params["phone"] = like_pattern(query.search.phone_digits)
    elif query.search.name_part:
        where.append(sql.SQL("name_key LIKE %(name)s"))
        params["name"] = like_pattern(query.search.name_part)
    return where, params


async def recipient_count(
    conn: Conn, query: RecipientQuery, limit: int | None = None
) -> int:
    """How many recipients the query matches, counting up to limit if any."""
    where, params = _where(query)
    matched = sql.SQL("SELECT 1 FROM metrics.recipients WHERE {}").format(
        sql.SQL(" AND ").join(where)
    )
    if limit is not None:
        # In the page's order: for a common name, PostgreSQL walks the
        # campaign's rows by (campaign_id, id) and stops at the limit,
        # rather than gathering every campaign's matches from the
        # trigram index first.
        matched = sql.SQL("{} ORDER BY id LIMIT %(limit)s").format(matched)
        params["limit"] = limit
    statement = sql.SQL("SELECT count(*) AS n FROM ({}) AS matched")
    cursor = await conn.execute(statement.format(matched), params)
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def matching_ids(
    conn: Conn, query: RecipientQuery, limit: int, workspace_id: str | None = None
) -> list[int]:
    """The ids of the first `limit` recipients the query matches, in the
    order they were added; with a workspace, none unless the campaign is
    the workspace's."""
    where, params = _where(query)
    params["limit"] = limit
    if workspace_id is not None:
        # Uncorrelated: PostgreSQL checks it once, before the scan.
        where.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM metrics.campaigns"
                " WHERE id = %(campaign)s AND workspace_id = %(workspace)s)"
            )
        )
        params["workspace"] = workspace_id
    statement = sql.SQL(
        "SELECT id FROM metrics.recipients WHERE {} ORDER BY id LIMIT %(limit)s"
    ).format(sql.SQL(" AND ").join(where))
    cursor = await conn.execute(statement, params)
    return [row["id"] for row in await cursor.fetchall()]


async def recipients_by_id(conn: Conn, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of those recipients, in the order they were added."""
    statement = sql.SQL(
        "SELECT {columns} FROM metrics.recipients"
        " WHERE id = ANY(%(ids)s::bigint[]) ORDER BY id"
    ).format(columns=sql.SQL(_ROW_COLUMNS))
    cursor = await conn.execute(statement, {"ids": list(ids)})
    return list(await cursor.fetchall())


def _part(
    conditions: list[sql.Composable], order_by: sql.Composable, rank: int = 0
) -> sql.Composed:
    return sql.SQL(
        "(SELECT {columns}, {rank} AS part FROM metrics.recipients"
        " WHERE {conditions} ORDER BY {order_by} LIMIT %(limit)s)"
    ).format(
        columns=sql.SQL(_ROW_COLUMNS),
        rank=sql.Literal(rank),
        conditions=sql.SQL(" AND ").join(conditions),
        order_by=order_by,
    )


async def recipients_page(
    conn: Conn,
    query: RecipientQuery,
    column: SortColumn,
    descending: bool,
    after: tuple[Any, int] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of recipients in (column, id) order, after a cursor.

    A nullable column is read in two index range scans, its non-null
    rows then its null rows, so that nulls come last in both directions
    and neither scan needs OFFSET. The null rows are ordered by (column,
    id) too, which is id order among them: so written, the order is the
    one of the (campaign_id, [status,] column, id) index, and PostgreSQL
    reads that index instead of the primary key's, which would walk the
    whole campaign past every row with the column set.
    """
    where, params = _where(query)
    params["limit"] = limit
    col = sql.Identifier(column)
    order = sql.SQL("DESC" if descending else "ASC")
    beyond = sql.SQL("<" if descending else ">")
    by_value = sql.SQL("{0} {1}, id {1}").format(col, order)
    by_id = sql.SQL("id {}").format(order)
    keyset: list[sql.Composable] = []
    id_after: list[sql.Composable] = []
    if after is not None:
        params["after_value"], params["after_id"] = after
        keyset = [
            sql.SQL("({}, id) {} (%(after_value)s, %(after_id)s)").format(col, beyond)
        ]
        id_after = [sql.SQL("id {} %(after_id)s").format(beyond)]

    statement: sql.Composable
    if column == "id":
        statement = _part(where + id_after, by_id)
    elif column not in _NULLABLE:
        statement = _part(where + keyset, by_value)
    else:
        is_null = sql.SQL("{} IS NULL").format(col)
        if after is not None and after[0] is None:
            # The cursor is among the nulls already.
            statement = _part([*where, is_null, *id_after], by_value)
        else:
            not_null = sql.SQL("{} IS NOT NULL").format(col)
            values = _part([*where, not_null, *keyset], by_value)
            nulls = _part([*where, is_null], by_value, rank=1)
            statement = sql.SQL(
                "SELECT * FROM ({} UNION ALL {}) AS page"
                " ORDER BY part, {} LIMIT %(limit)s"
            ).format(values, nulls, by_value)
    cursor = await conn.execute(statement, params)
    return list(await cursor.fetchall())


async def timelines(
    conn: Conn, workspace_id: str, recipient_ids: Sequence[int]
) -> dict[int, list[tuple[str, datetime]]]:
    """Meta's statuses for each recipient, every attempt's, in the order
    they happened."""
    cursor = await conn.execute(
        """
        WITH wamids AS (
            SELECT id AS recipient_id, wamid FROM metrics.recipients
            WHERE id = ANY(%(ids)s::bigint[]) AND wamid IS NOT NULL
            UNION ALL
            SELECT recipient_id, wamid FROM metrics.earlier_wamids
            WHERE recipient_id = ANY(%(ids)s::bigint[])
        )
        SELECT w.recipient_id, s.status, s.occurred_at
        FROM wamids w
        JOIN metrics.status_events s ON s.wamid = w.wamid
        WHERE s.workspace_id = %(workspace_id)s AND NOT s.parked
        -- Statuses of the same second by rank, not by arrival: Meta
        -- often stamps sent and delivered alike.
        ORDER BY s.occurred_at,
                 array_position(ARRAY['sent', 'failed', 'delivered', 'read',
                                      'played'], lower(s.status)) NULLS LAST,
                 s.status, s.id
        """,
        {"ids": list(recipient_ids), "workspace_id": workspace_id},
    )
    found: dict[int, list[tuple[str, datetime]]] = {}
    for row in await cursor.fetchall():
        found.setdefault(row["recipient_id"], []).append(
            (row["status"], row["occurred_at"])
        )
    return found


async def failure_counts(conn: Conn, campaign_id: str) -> list[tuple[int, str, int]]:
    """(code, one of Meta's titles, recipients) of the failed recipients."""
    cursor = await conn.execute(
        """
        SELECT failure_code AS code, min(failure_title) AS title,
               count(*) AS n
        FROM metrics.recipients
        WHERE campaign_id = %s AND status = %s
        GROUP BY failure_code
        ORDER BY n DESC, code
        """,
        [campaign_id, int(Status.FAILED)],
    )
    return [
        (row["code"] or 0, row["title"] or "", row["n"])
        for row in await cursor.fetchall()
    ]


async def recipient_total(conn: Conn, campaign_id: str) -> int:
    return await recipient_count(conn, RecipientQuery(campaign_id))
