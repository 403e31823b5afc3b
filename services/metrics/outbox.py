"""The counter outbox: counter changes committed with their rows.

A transaction that changes recipients inserts, beside the rows, the
change it makes to each campaign's counters. services.metrics.counters
applies those rows to Redis after the commit, or later if that fails.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.metrics.ledger import Conn
from services.metrics.statuses import OPTED_OUT, REPLIED, RecipientState, Status


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    campaign_id: str
    deltas: dict[str, int]


def _outbox(row: dict[str, Any]) -> OutboxRow:
    return OutboxRow(row["id"], row["campaign_id"], dict(row["deltas"]))


async def insert(conn: Conn, deltas: dict[str, dict[str, int]]) -> list[OutboxRow]:
    """Record counter changes per campaign, in the caller's transaction."""
    changes = {
        campaign_id: change
        for campaign_id, change in sorted(deltas.items())
        if any(change.values())
    }
    if not changes:
        return []
    cursor = await conn.execute(
        """
        INSERT INTO metrics.counter_outbox (campaign_id, deltas)
        SELECT c, d::jsonb FROM unnest(%s::text[], %s::text[]) AS o(c, d)
        RETURNING id, campaign_id, deltas
        """,
        [list(changes), [json.dumps(change) for change in changes.values()]],
    )
    return [_outbox(row) for row in await cursor.fetchall()]


async def leftover(conn: Conn, older_than_s: float, limit: int) -> list[OutboxRow]:
    cursor = await conn.execute(
        """
        SELECT id, campaign_id, deltas FROM metrics.counter_outbox
        WHERE created_at < now() - make_interval(secs => %s)
        ORDER BY id
        LIMIT %s
        """,
        [older_than_s, limit],
    )
    return [_outbox(row) for row in await cursor.fetchall()]


async def for_campaign(conn: Conn, campaign_id: str) -> list[OutboxRow]:
    cursor = await conn.execute(
        "SELECT id, campaign_id, deltas FROM metrics.counter_outbox"
        " WHERE campaign_id = %s ORDER BY id",
        [campaign_id],
    )
    return [_outbox(row) for row in await cursor.fetchall()]


async def delete(conn: Conn, ids: Sequence[int]) -> None:
    if ids:
        await conn.execute(
            "DELETE FROM metrics.counter_outbox WHERE id = ANY(%s::bigint[])",
            [list(ids)],
        )


@dataclass(frozen=True, slots=True)
class CountSnapshot:
    """A campaign's rows counted, and the outbox rows the count includes."""

    counts: dict[str, int]
    outbox_ids: list[int]


async def count_campaign(conn: Conn, campaign_id: str) -> CountSnapshot:
    # One statement, so one snapshot: an outbox row is listed exactly
    # when the row changes it describes are counted.
    cursor = await conn.execute(
        """
        SELECT
          (SELECT coalesce(json_agg(g), '[]') FROM (
              SELECT status, wamid IS NOT NULL AS accepted,
                     count(*) AS n, count(replied_at) AS replied,
                     count(opted_out_at) AS opted_out
              FROM metrics.recipients WHERE campaign_id = %(c)s
              GROUP BY 1, 2) g) AS groups,
          ARRAY(SELECT id FROM metrics.counter_outbox
                WHERE campaign_id = %(c)s) AS outbox_ids
        """,
        {"c": campaign_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    counts: dict[str, int] = {}
    for group in row["groups"]:
        state = RecipientState(
            status=Status(group["status"]),
            wamid="accepted" if group["accepted"] else None,
        )
        for field, n in (
            (state.bucket.value, group["n"]),
            (REPLIED, group["replied"]),
            (OPTED_OUT, group["opted_out"]),
        ):
            counts[field] = counts.get(field, 0) + n
    return CountSnapshot(counts, list(row["outbox_ids"]))
