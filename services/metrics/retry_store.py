"""SQL for retries: failed recipients, the retry queue, handing out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.metrics.ledger import Conn
from services.metrics.statuses import Status


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    id: int
    phone: str
    failure_code: int
    failure_title: str
    failed_at: datetime
    # The send that failed: a retry is queued once for each.
    attempt: int
    # Queued already for this very attempt.
    queued: bool


@dataclass(frozen=True, slots=True)
class RetryRow:
    id: int
    campaign_id: str
    phone: str
    name: str
    failure_code: int
    failed_at: datetime
    queued_at: datetime


# A recipient's current attempt is the one a retry row must name.
_FAILED = """
SELECT r.id, r.phone, r.failure_code, coalesce(r.failure_title, '')
       AS failure_title, r.failed_at, r.attempt, q.id IS NOT NULL AS queued
FROM metrics.recipients r
LEFT JOIN metrics.retries q
  ON q.recipient_id = r.id AND q.attempt = r.attempt
WHERE r.campaign_id = %(campaign_id)s
  AND r.status = %(failed)s
  AND r.failure_code IS NOT NULL
  AND r.failed_at IS NOT NULL
  AND (cardinality(%(categories)s::text[]) = 0
       OR r.failure_category = ANY(%(categories)s::text[]))
"""

_INSERT = """
INSERT INTO metrics.retries
    (recipient_id, campaign_id, workspace_id, failure_code, failed_at,
     attempt)
SELECT u.recipient_id, %s, %s, u.failure_code, u.failed_at, u.attempt
FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[], %s::integer[])
     AS u (recipient_id, failure_code, failed_at, attempt)
ON CONFLICT DO NOTHING
RETURNING id
"""

# SKIP LOCKED: two streams of one workspace share the rows, each row
# going to one of them.
_CLAIM = """
WITH claimed AS (
    UPDATE metrics.retries
    SET handed_out_at = clock_timestamp()
    WHERE id IN (
        SELECT id FROM metrics.retries
        WHERE workspace_id = %(workspace_id)s
          AND handed_out_at IS NULL
          AND (%(campaign_id)s = '' OR campaign_id = %(campaign_id)s)
        ORDER BY id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, campaign_id, recipient_id, failure_code, failed_at,
              queued_at
)
SELECT c.id, c.campaign_id, r.phone, r.name, c.failure_code, c.failed_at,
       c.queued_at
FROM claimed c
JOIN metrics.recipients r ON r.id = c.recipient_id
ORDER BY c.id
"""


async def failed_recipients(
    conn: Conn,
    campaign_id: str,
    categories: Sequence[str],
    phones: Sequence[str] | None = None,
) -> list[FailedRecipient]:
    """The campaign's failed recipients, in the categories if any given.

    With `phones`, only those, locked until the transaction ends.
    """
    query = _FAILED
    params: dict[str, object] = {
        "campaign_id": campaign_id,
        "failed": Status.FAILED.value,
        "categories": list(categories),
    }
    if phones is not None:
        query += " AND r.phone = ANY(%(phones)s::text[]) FOR UPDATE OF r"
        params["phones"] = list(phones)
    cursor = await conn.execute(query, params)
    return [FailedRecipient(**row) for row in await cursor.fetchall()]


async def insert_retries(
    conn: Conn,
    workspace_id: str,
    campaign_id: str,
    recipients: Sequence[FailedRecipient],
) -> int:
    """Queue the recipients' current attempts; how many were new."""
    if not recipients:
        return 0
    # In the order the recipients were added: the order they go out in.
    recipients = sorted(recipients, key=lambda r: r.id)
    cursor = await conn.execute(
        _INSERT,
        [
            campaign_id,
            workspace_id,
            [r.id for r in recipients],
            [r.failure_code for r in recipients],
            [r.failed_at for r in recipients],
            [r.attempt for r in recipients],
        ],
    )
    return len(await cursor.fetchall())


async def claim(
    conn: Conn, workspace_id: str, campaign_id: str, limit: int
) -> list[RetryRow]:
    """Mark up to `limit` waiting retries handed out, oldest first."""
    params = {
        "workspace_id": workspace_id,
        "campaign_id": campaign_id,
        "limit": limit,
    }
    cursor = await conn.execute(_CLAIM, params)
    return [RetryRow(**row) for row in await cursor.fetchall()]


async def release(conn: Conn, retry_ids: Sequence[int]) -> None:
    """Make claimed retries wait again (their stream ended first)."""
    if retry_ids:
        await conn.execute(
            "UPDATE metrics.retries SET handed_out_at = NULL"
            " WHERE id = ANY(%s::bigint[])",
            [list(retry_ids)],
        )


async def queued_attempts(
    conn: Conn, recipient_ids: Sequence[int]
) -> set[tuple[int, int]]:
    """(recipient_id, attempt) of every retry queued for the recipients."""
    cursor = await conn.execute(
        "SELECT recipient_id, attempt FROM metrics.retries"
        " WHERE recipient_id = ANY(%s::bigint[])",
        [list(recipient_ids)],
    )
    return {(row["recipient_id"], row["attempt"]) for row in await cursor.fetchall()}


async def resent(conn: Conn, attempts: Sequence[tuple[int, int]]) -> None:
    """The retries of these (recipient_id, attempt) were sent: none waits.

    The sender may send a retry before WatchRetries hands it out; it is
    then never handed out.
    """
    if attempts:
        await conn.execute(
            """
            UPDATE metrics.retries AS q
            SET handed_out_at = coalesce(q.handed_out_at, clock_timestamp())
            FROM unnest(%s::bigint[], %s::integer[]) AS s(recipient_id, attempt)
            WHERE q.recipient_id = s.recipient_id AND q.attempt = s.attempt
            """,
            [[a[0] for a in attempts], [a[1] for a in attempts]],
        )
