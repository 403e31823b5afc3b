"""Counters rebuilt from the rows: the operator's repair for drift.

Counters.reconcile compares one campaign's Redis hash with a count over
its recipient rows and rebuilds the hash when they differ. This runs it
for one campaign or for every campaign, and says field by field what it
found: what Redis held, and what the rows say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from opentelemetry import metrics

from services.metrics import outbox, store
from services.metrics.counters import Counters
from services.metrics.ledger import Conn, Pool
from xobito import cache
from xobito.database import open_pool
from xobito.errors import NotFoundError

_drift = metrics.get_meter(__name__).create_counter(
    "xobito.counters.drift",
    unit="{count}",
    description="How far the Redis counters were from the rows, by field,"
    " when reconcile repaired them.",
)


@dataclass(frozen=True, slots=True)
class FieldDrift:
    field: str
    stored: int
    counted: int


@dataclass(frozen=True, slots=True)
class CampaignDrift:
    """One campaign's drift, repaired; no fields when there was none."""

    campaign_id: str
    fields: list[FieldDrift]


async def reconcile(
    database_url: str, redis_url: str, campaign_id: str | None = None
) -> list[CampaignDrift]:
    """Repair the campaign's counters, or every campaign's, oldest first."""
    pool = cast(Pool, await open_pool(database_url, min_size=1, max_size=2))
    client = cache.connect(redis_url)
    try:
        async with pool.connection() as conn:
            campaign_ids = await _campaign_ids(conn, campaign_id)
        counters = Counters(pool, client)
        return [await _repair(counters, pool, cid) for cid in campaign_ids]
    finally:
        await client.aclose()
        await pool.close()


async def _campaign_ids(conn: Conn, campaign_id: str | None) -> list[str]:
    if campaign_id is not None:
        if await store.campaign(conn, campaign_id) is None:
            raise NotFoundError("no such campaign")
        return [campaign_id]
    cursor = await conn.execute(
        "SELECT id FROM metrics.campaigns ORDER BY created_at, id"
    )
    return [row["id"] for row in await cursor.fetchall()]


async def _repair(counters: Counters, pool: Pool, campaign_id: str) -> CampaignDrift:
    drift = await counters.reconcile(campaign_id, repair=True)
    if not drift:
        return CampaignDrift(campaign_id, [])
    for field, by in drift.items():
        _drift.add(abs(by), {"field": field})

    # Counted again after the repair: the values the hash was rebuilt
    # with. A write landing in between shows in both numbers alike.
    async with pool.connection() as conn:
        counted = (await outbox.count_campaign(conn, campaign_id)).counts
    fields = [
        FieldDrift(field, counted.get(field, 0) + by, counted.get(field, 0))
        for field, by in sorted(drift.items())
    ]
    return CampaignDrift(campaign_id, fields)
