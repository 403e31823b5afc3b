"""How many of a campaign's messages Meta bills."""

from __future__ import annotations

import strawberry

from xobito.metrics.v1 import metrics_pb2 as mpb


@strawberry.type
class BillableCount:
    category: str
    count: int


@strawberry.type(description="Messages Meta bills (a count, not money).")
class CampaignCost:
    billable: int
    by_category: list[BillableCount]

    @classmethod
    def of(cls, message: mpb.CampaignCost) -> CampaignCost:
        return cls(
            billable=message.billable,
            by_category=[
                BillableCount(category=count.category, count=count.count)
                for count in message.by_category
            ],
        )
