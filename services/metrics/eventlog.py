"""The event tables: Meta's statuses, inbound messages, account events.

Each event is recorded once; inserting it again is a no-op, which is how
a redelivered webhook is recognised.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from services.metrics.events import AccountEvent, InboundMessage, StatusReport
from services.metrics.ledger import Conn


async def insert_statuses(
    conn: Conn, reports: Sequence[StatusReport], parked: Sequence[bool]
) -> set[tuple[str, str, datetime]]:
    """Record the reports not recorded before; return the new ones' keys."""
    if not reports:
        return set()
    cursor = await conn.execute(
        """
        INSERT INTO metrics.status_events
            (workspace_id, wamid, status, occurred_at, error_code,
             error_title, detail, parked, phone_number_id)
        SELECT w, m, s, t, c, ti, d::jsonb, p, n
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[],
                    %s::integer[], %s::text[], %s::text[], %s::boolean[],
                    %s::text[])
             AS e(w, m, s, t, c, ti, d, p, n)
        ON CONFLICT (wamid, status, occurred_at) DO NOTHING
        RETURNING wamid, status, occurred_at
        """,
        [
            [report.workspace_id for report in reports],
            [report.wamid for report in reports],
            [report.status for report in reports],
            [report.occurred_at for report in reports],
            [report.error_code or None for report in reports],
            [report.error_title or None for report in reports],
            [orjson.dumps(report.detail).decode() for report in reports],
            list(parked),
            [report.phone_number_id for report in reports],
        ],
    )
    return {
        (row["wamid"], row["status"], row["occurred_at"])
        for row in await cursor.fetchall()
    }


async def parked_statuses(
    conn: Conn, workspace_id: str, wamids: Sequence[str]
) -> list[StatusReport]:
    """The parked reports for these wamids, oldest first, now unparked."""
    cursor = await conn.execute(
        """
        UPDATE metrics.status_events SET parked = false
        WHERE parked AND wamid = ANY(%s::text[]) AND workspace_id = %s
        RETURNING id, wamid, status, occurred_at, error_code, error_title,
                  phone_number_id, detail
        """,
        [list(wamids), workspace_id],
    )
    rows = sorted(await cursor.fetchall(), key=lambda row: row["id"])
    return [
        StatusReport(
            workspace_id=workspace_id,
            wamid=row["wamid"],
            status=row["status"],
            occurred_at=row["occurred_at"],
            error_code=row["error_code"] or 0,
            error_title=row["error_title"] or "",
            phone_number_id=row["phone_number_id"],
            detail=row["detail"],
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class ParkedStatus:
    """A status still waiting for the send that brings its wamid."""

    id: int
    wamid: str
    status: str
    occurred_at: datetime
    received_at: datetime
    phone_number_id: str


# Parked statuses are kept until their send comes, however long: pruning
# the very old ones is not done yet.
async def parked_page(
    conn: Conn,
    workspace_id: str,
    older_than: timedelta,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[ParkedStatus]:
    """The workspace's statuses parked longer than older_than, oldest first."""
    after_at, after_id = after or (None, None)
    cursor = await conn.execute(
        """
        SELECT id, wamid, status, occurred_at, received_at, phone_number_id
        FROM metrics.status_events
        WHERE parked AND workspace_id = %s AND received_at < now() - %s
          AND (%s::timestamptz IS NULL OR (received_at, id) > (%s, %s))
        ORDER BY received_at, id
        LIMIT %s
        """,
        [workspace_id, older_than, after_at, after_at, after_id, limit],
    )
    return [ParkedStatus(**row) for row in await cursor.fetchall()]


async def parked_count(conn: Conn, workspace_id: str, older_than: timedelta) -> int:
    cursor = await conn.execute(
        """
        SELECT count(*) AS n FROM metrics.status_events
        WHERE parked AND workspace_id = %s AND received_at < now() - %s
        """,
        [workspace_id, older_than],
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def insert_messages(
    conn: Conn,
    messages: Sequence[InboundMessage],
    recipient_ids: Sequence[int | None],
) -> set[str]:
    """Record the messages not recorded before; return the new wamids."""
    if not messages:
        return set()
    cursor = await conn.execute(
        """
        INSERT INTO metrics.inbound_messages
            (wamid, workspace_id, phone, occurred_at, type, context_wamid,
             opt_out, recipient_id)
        SELECT * FROM unnest(
            %s::text[], %s::text[], %s::text[], %s::timestamptz[],
            %s::text[], %s::text[], %s::boolean[], %s::bigint[])
        ON CONFLICT (wamid) DO NOTHING
        RETURNING wamid
        """,
        [
            [message.wamid for message in messages],
            [message.workspace_id for message in messages],
            [message.phone for message in messages],
            [message.occurred_at for message in messages],
            [message.type for message in messages],
            [message.context_wamid or None for message in messages],
            [message.opt_out for message in messages],
            list(recipient_ids),
        ],
    )
    return {row["wamid"] for row in await cursor.fetchall()}


def _fingerprint(event: AccountEvent) -> str:
    plain = [
        event.workspace_id,
        event.kind,
        event.waba_id,
        event.phone_number_id,
        event.occurred_at.isoformat(),
        event.payload,
    ]
    raw = json.dumps(plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


async def insert_account_events(conn: Conn, events: Sequence[AccountEvent]) -> None:
    if not events:
        return
    await conn.execute(
        """
        INSERT INTO metrics.account_events
            (workspace_id, kind, waba_id, phone_number_id, occurred_at,
             payload, fingerprint)
        SELECT w, k, wb, p, t, d::jsonb, f
        FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],
                    %s::timestamptz[], %s::text[], %s::text[])
             AS e(w, k, wb, p, t, d, f)
        ON CONFLICT (fingerprint) DO NOTHING
        """,
        [
            [event.workspace_id for event in events],
            [event.kind for event in events],
            [event.waba_id for event in events],
            [event.phone_number_id for event in events],
            [event.occurred_at for event in events],
            [json.dumps(event.payload) for event in events],
            [_fingerprint(event) for event in events],
        ],
    )
