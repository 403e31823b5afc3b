"""Which campaign messages Meta bills, in which pricing category.

Meta repeats a message's pricing on its sent and its delivered status,
so each wamid is recorded once. The record does not depend on the order
of the statuses: a message is billable when any of its statuses said so,
and its category is a billable status's (the least, should two differ).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.metrics.events import StatusReport
from services.metrics.ledger import Conn


@dataclass(frozen=True, slots=True)
class Pricing:
    wamid: str
    campaign_id: str
    category: str
    billable: bool

    def merge(self, other: Pricing) -> Pricing:
        """What two statuses of one message say together."""
        if self.billable != other.billable:
            return self if self.billable else other
        category = min(self.category, other.category)
        return Pricing(self.wamid, self.campaign_id, category, self.billable)


def pricings(reports: Iterable[tuple[StatusReport, str]]) -> list[Pricing]:
    """One Pricing per wamid of the (report, campaign_id) that carry one."""
    found: dict[str, Pricing] = {}
    for report, campaign_id in reports:
        billable = report.detail.get("billable")
        if not isinstance(billable, bool):
            continue
        category = str(report.detail.get("pricing_category", ""))
        pricing = Pricing(report.wamid, campaign_id, category, billable)
        known = found.get(report.wamid)
        found[report.wamid] = known.merge(pricing) if known else pricing
    # In wamid order, so that two batches write their rows in one order.
    return [found[wamid] for wamid in sorted(found)]


async def record(conn: Conn, found: list[Pricing]) -> None:
    """Fold the pricings into what was recorded for their messages."""
    if not found:
        return
    await conn.execute(
        """
        INSERT INTO metrics.billable_messages AS b
            (wamid, campaign_id, category, billable)
        SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::boolean[])
        ON CONFLICT (wamid) DO UPDATE SET
            billable = b.billable OR excluded.billable,
            category = CASE
                WHEN b.billable = excluded.billable
                    THEN least(b.category COLLATE "C", excluded.category)
                WHEN excluded.billable THEN excluded.category
                ELSE b.category
            END
        WHERE (b.billable, b.category)
              IS DISTINCT FROM (excluded.billable, excluded.category)
        """,
        [
            [pricing.wamid for pricing in found],
            [pricing.campaign_id for pricing in found],
            [pricing.category for pricing in found],
            [pricing.billable for pricing in found],
        ],
    )


async def billable_counts(conn: Conn, campaign_id: str) -> list[tuple[str, int]]:
    """(category, billable messages) of the campaign, most first."""
    cursor = await conn.execute(
        """
        SELECT category, count(*) AS n FROM metrics.billable_messages
        WHERE campaign_id = %s AND billable
        GROUP BY category
        ORDER BY n DESC, category
        """,
        [campaign_id],
    )
    return [(row["category"], row["n"]) for row in await cursor.fetchall()]
