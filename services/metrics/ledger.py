"""The write path's SQL for recipients, and the transaction around it.

Every function takes a batch and sends one statement for it, with the
batch as arrays (unnest), whatever its size. Callers run them inside
one transaction with transact().
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

from services.metrics.statuses import Failure, RecipientState, Status

log = structlog.get_logger(__name__)

Conn = psycopg.AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Conn]
T = TypeVar("T")

_ATTEMPTS = 3


async def transact(
    pool: Pool, work: Callable[[Conn], Awaitable[T]], *, pipelined: bool = False
) -> T:
    """Run work in one transaction, again if PostgreSQL broke a deadlock.

    Pipelined, the statements whose results work does not fetch travel
    with the next one that it does, BEGIN with the first and COMMIT with
    the last: a round trip for each fetch, not for each statement. The
    server still runs them one after the other, in order.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with pool.connection() as conn:
                if not pipelined:
                    async with conn.transaction():
                        return await work(conn)
                # Not conn.transaction(): in a pipeline, it syncs once
                # before BEGIN and twice after COMMIT. The connection
                # rolls back what an error leaves open.
                async with conn.pipeline():
                    result = await work(conn)
                    await conn.execute("COMMIT")
                return result
        except psycopg.errors.DeadlockDetected:
            if attempt == _ATTEMPTS:
                raise
            log.info("deadlock, retrying", attempt=attempt)
    raise AssertionError("unreachable")


# -- locks -------------------------------------------------------------


def _lock_key(wamid: str) -> int:
    digest = hashlib.blake2b(wamid.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_wamids(conn: Conn, wamids: Iterable[str]) -> None:
    """Serialize the transactions that touch these wamids.

    A status can arrive while the send that brings its wamid is being
    recorded: each side would miss the other's uncommitted row, and the
    status would stay parked. Holding a lock per wamid makes the later
    transaction see the earlier one's rows. Keys are taken in sorted
    order, so two batches never wait on each other in a circle.
    """
    keys = sorted({_lock_key(wamid) for wamid in wamids if wamid})
    if keys:
        await conn.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k",
            [keys],
        )


# -- recipients --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockedRecipient:
    id: int
    campaign_id: str
    phone: str
    state: RecipientState


_STATE_COLUMNS = """
    id, campaign_id, phone, status, attempt, wamid, called_at, meta_sent_at,
    delivered_at, read_at, failed_at, failure_code, failure_title,
    failure_category, replied_at, opted_out_at
"""


def state_of(row: dict[str, Any]) -> RecipientState:
    failure = None
    if row["failure_code"] is not None:
        failure = Failure(
            row["failure_code"],
            row["failure_title"] or "",
            row["failure_category"] or "",
        )
    return RecipientState(
        status=Status(row["status"]),
        attempt=row["attempt"],
        wamid=row["wamid"],
        called_at=row["called_at"],
        meta_sent_at=row["meta_sent_at"],
        delivered_at=row["delivered_at"],
        read_at=row["read_at"],
        failed_at=row["failed_at"],
        failure=failure,
        replied_at=row["replied_at"],
        opted_out_at=row["opted_out_at"],
    )


def _locked(row: dict[str, Any]) -> LockedRecipient:
    return LockedRecipient(row["id"], row["campaign_id"], row["phone"], state_of(row))


async def insert_recipients(
    conn: Conn,
    campaign_id: str,
    phones: Sequence[str],
    names: Sequence[str],
    name_keys: Sequence[str],
) -> list[int]:
    """Add the phones not in the campaign yet; return the new rows' ids."""
    # Sorted, so that two batches with the same phones insert them in
    # the same order and cannot deadlock on the unique index.
    rows = sorted(zip(phones, names, name_keys, strict=True))
    cursor = await conn.execute(
        """
        INSERT INTO metrics.recipients (campaign_id, phone, name, name_key)
        SELECT %s, p, n, k
        FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(p, n, k)
        ON CONFLICT (campaign_id, phone) DO NOTHING
        RETURNING id
        """,
        [
            campaign_id,
            [row[0] for row in rows],
            [row[1] for row in rows],
            [row[2] for row in rows],
        ],
    )
    return [row["id"] for row in await cursor.fetchall()]


async def lock_recipients_by_phone(
    conn: Conn, campaign_id: str, phones: Sequence[str]
) -> dict[str, LockedRecipient]:
    cursor = await conn.execute(
        f"""
        SELECT {_STATE_COLUMNS} FROM metrics.recipients
        WHERE campaign_id = %s AND phone = ANY(%s::text[])
        ORDER BY id
        FOR UPDATE
        """,
        [campaign_id, list(phones)],
    )
    return {row["phone"]: _locked(row) for row in await cursor.fetchall()}


async def lock_recipients(conn: Conn, ids: Iterable[int]) -> dict[int, LockedRecipient]:
    # In id order, so that concurrent batches lock rows in one order.
    cursor = await conn.execute(
        f"""
        SELECT {_STATE_COLUMNS} FROM metrics.recipients
        WHERE id = ANY(%s::bigint[])
        ORDER BY id
        FOR UPDATE
        """,
        [sorted(set(ids))],
    )
    return {row["id"]: _locked(row) for row in await cursor.fetchall()}


@dataclass(frozen=True, slots=True)
class WamidOwner:
    campaign_id: str
    phone: str
    # The wamid of an earlier attempt, not the recipient's current one.
    earlier: bool


async def wamid_owners(conn: Conn, wamids: Sequence[str]) -> dict[str, WamidOwner]:
    """The recipient already holding each of the wamids, now or before."""
    cursor = await conn.execute(
        """
        SELECT wamid, campaign_id, phone, false AS earlier
        FROM metrics.recipients WHERE wamid = ANY(%(wamids)s::text[])
        UNION ALL
        SELECT e.wamid, r.campaign_id, r.phone, true
        FROM metrics.earlier_wamids e
        JOIN metrics.recipients r ON r.id = e.recipient_id
        WHERE e.wamid = ANY(%(wamids)s::text[])
        """,
        {"wamids": list(wamids)},
    )
    return {
        row["wamid"]: WamidOwner(row["campaign_id"], row["phone"], row["earlier"])
        for row in await cursor.fetchall()
    }


async def insert_earlier_wamids(
    conn: Conn, earlier: Sequence[tuple[int, str, int]]
) -> None:
    """Keep (recipient_id, wamid, attempt) of attempts a retry replaced."""
    if earlier:
        await conn.execute(
            """
            INSERT INTO metrics.earlier_wamids (recipient_id, wamid, attempt)
            SELECT * FROM unnest(%s::bigint[], %s::text[], %s::integer[])
            """,
            [[e[0] for e in earlier], [e[1] for e in earlier], [e[2] for e in earlier]],
        )


async def recipients_by_wamid(
    conn: Conn, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Recipient ids by (wamid, workspace_id), for the keys that match.

    The wamid may be the recipient's current one or an earlier
    attempt's.
    """
    pairs = sorted(set(keys))
    cursor = await conn.execute(
        """
        SELECT DISTINCT o.id, e.wamid, c.workspace_id
        FROM unnest(%s::text[], %s::text[]) AS e(wamid, workspace_id)
        CROSS JOIN LATERAL (
            SELECT r.id, r.campaign_id FROM metrics.recipients r
            WHERE r.wamid = e.wamid
            UNION ALL
            SELECT r.id, r.campaign_id FROM metrics.earlier_wamids w
            JOIN metrics.recipients r ON r.id = w.recipient_id
            WHERE w.wamid = e.wamid
        ) o
        JOIN metrics.campaigns c
          ON c.id = o.campaign_id AND c.workspace_id = e.workspace_id
        """,
        [[pair[0] for pair in pairs], [pair[1] for pair in pairs]],
    )
    return {
        (row["wamid"], row["workspace_id"]): row["id"]
        for row in await cursor.fetchall()
    }


@dataclass(frozen=True, slots=True)
class Attribution:
    """The campaign recipients a contact's message may be about."""

    # The recipient whose message the contact quoted.
    quoted: int | None
    # The latest accepted send to the contact before the message.
    latest: int | None
    latest_called_at: datetime | None


async def attribute(
    conn: Conn, contacts: Sequence[tuple[str, str, datetime, str]]
) -> list[Attribution]:
    """For each (workspace_id, phone, at, context_wamid), its recipients."""
    if not contacts:
        return []
    cursor = await conn.execute(
        """
        SELECT m.i, quoted.id AS quoted, latest.id AS latest,
               latest.called_at AS latest_called_at
        FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[])
             WITH ORDINALITY AS m(workspace_id, phone, at, context_wamid, i)
        LEFT JOIN LATERAL (
            SELECT q.id FROM (
                SELECT r.id, r.campaign_id FROM metrics.recipients r
                WHERE r.wamid = m.context_wamid
                UNION ALL
                -- A reply may quote an earlier attempt's message.
                SELECT r.id, r.campaign_id FROM metrics.earlier_wamids e
                JOIN metrics.recipients r ON r.id = e.recipient_id
                WHERE e.wamid = m.context_wamid
            ) q
            JOIN metrics.campaigns c ON c.id = q.campaign_id
            WHERE c.workspace_id = m.workspace_id
        ) quoted ON true
        LEFT JOIN LATERAL (
            SELECT r.id, r.called_at FROM metrics.recipients r
            JOIN metrics.campaigns c ON c.id = r.campaign_id
            WHERE r.phone = m.phone
              AND r.called_at IS NOT NULL
              AND r.called_at <= m.at
              AND r.wamid IS NOT NULL
              AND c.workspace_id = m.workspace_id
            ORDER BY r.called_at DESC, r.id DESC
            LIMIT 1
        ) latest ON true
        ORDER BY m.i
        """,
        [
            [contact[0] for contact in contacts],
            [contact[1] for contact in contacts],
            [contact[2] for contact in contacts],
            [contact[3] or None for contact in contacts],
        ],
    )
    return [
        Attribution(row["quoted"], row["latest"], row["latest_called_at"])
        for row in await cursor.fetchall()
    ]


async def update_recipients(
    conn: Conn, changed: Sequence[tuple[int, RecipientState]]
) -> None:
    if not changed:
        return
    states = [state for _, state in changed]
    failures = [state.failure for state in states]
    await conn.execute(
        """
        UPDATE metrics.recipients AS r SET
            status = u.status, attempt = u.attempt, wamid = u.wamid,
            called_at = u.called_at,
            meta_sent_at = u.meta_sent_at, delivered_at = u.delivered_at,
            read_at = u.read_at, failed_at = u.failed_at,
            failure_code = u.failure_code, failure_title = u.failure_title,
            failure_category = u.failure_category,
            replied_at = u.replied_at, opted_out_at = u.opted_out_at
        FROM unnest(
            %s::bigint[], %s::smallint[], %s::integer[], %s::text[],
            %s::timestamptz[], %s::timestamptz[], %s::timestamptz[],
            %s::timestamptz[], %s::timestamptz[], %s::integer[], %s::text[],
            %s::text[], %s::timestamptz[], %s::timestamptz[]
        ) AS u(id, status, attempt, wamid, called_at, meta_sent_at,
               delivered_at, read_at, failed_at, failure_code, failure_title,
               failure_category, replied_at, opted_out_at)
        WHERE r.id = u.id
        """,
        [
            [recipient_id for recipient_id, _ in changed],
            [int(state.status) for state in states],
            [state.attempt for state in states],
            [state.wamid for state in states],
            [state.called_at for state in states],
            [state.meta_sent_at for state in states],
            [state.delivered_at for state in states],
            [state.read_at for state in states],
            [state.failed_at for state in states],
            [f.code if f else None for f in failures],
            [f.title if f else None for f in failures],
            [f.category if f else None for f in failures],
            [state.replied_at for state in states],
            [state.opted_out_at for state in states],
        ],
    )
