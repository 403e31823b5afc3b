"""Campaigns side by side: counters, rates and cost, per 1,000 recipients."""

from __future__ import annotations

import asyncio
from datetime import datetime

import strawberry

from gateway import kpis
from gateway.context import Context
from gateway.errors import BadRequestError, NotFoundError
from gateway.types.counters import Counters, Kpis
from gateway.types.scalars import time_of
from xobito.metrics.v1 import metrics_pb2 as mpb

MAX_COMPARED = 20


def per_thousand(part: int, recipients: int) -> float:
    """part per 1,000 recipients, with one decimal; 0 for no recipients."""
    # A per-mille is ten times a percentage.
    return kpis.percent(part * 10, recipients)


@strawberry.type(description="Counts per 1,000 recipients, one decimal.")
class PerThousand:
    sent: float
    delivered: float
    read: float
    failed: float
    replied: float
    opted_out: float
    billable: float


@strawberry.type(
    description="One campaign's figures, comparable across audience sizes."
)
class CampaignComparison:
    id: strawberry.ID
    name: str
    created_at: datetime | None
    recipient_total: int
    counters: Counters
    delivery_rate: float | None = strawberry.field(description="delivered / sent")
    read_rate: float | None = strawberry.field(description="read / delivered")
    reply_rate: float | None = strawberry.field(description="replied / delivered")
    opt_out_rate: float | None = strawberry.field(description="opted out / delivered")
    billable: int = strawberry.field(description="Messages Meta bills.")
    per_thousand: PerThousand

    @classmethod
    def of(cls, campaign: mpb.Campaign, billable: int) -> CampaignComparison:
        total = campaign.recipient_total
        counters = Counters.of(campaign.counters, total)
        rates = Kpis.of(counters)
        return cls(
            id=strawberry.ID(campaign.id),
            name=campaign.name,
            created_at=time_of(campaign, "created_at"),
            recipient_total=total,
            counters=counters,
            delivery_rate=rates.delivery_rate,
            read_rate=rates.read_rate,
            reply_rate=rates.reply_rate,
            opt_out_rate=kpis.rate(counters.opted_out, counters.delivered),
            billable=billable,
            per_thousand=PerThousand(
                sent=per_thousand(counters.sent, total),
                delivered=per_thousand(counters.delivered, total),
                read=per_thousand(counters.read, total),
                failed=per_thousand(counters.failed, total),
                replied=per_thousand(counters.replied, total),
                opted_out=per_thousand(counters.opted_out, total),
                billable=per_thousand(billable, total),
            ),
        )


async def compare_campaigns(
    context: Context, ids: list[strawberry.ID]
) -> list[CampaignComparison]:
    """The workspace's campaigns among ids, in their order, each once.

    At most MAX_COMPARED; unknown and foreign ids are left out, without
    saying which.
    """
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_COMPARED:
        raise BadRequestError(f"compare at most {MAX_COMPARED} campaigns")
    found = await asyncio.gather(
        *(_comparison(context, id) for id in unique), return_exceptions=True
    )
    compared = []
    for outcome in found:
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is not None:
            compared.append(outcome)
    return compared


async def _comparison(context: Context, campaign_id: str) -> CampaignComparison | None:
    metrics, workspace = context.metrics, context.workspace
    try:
        campaign = await metrics.get_campaign(workspace, campaign_id)
        cost = await metrics.get_campaign_cost(workspace, campaign_id)
    except NotFoundError:
        return None
    return CampaignComparison.of(campaign, cost.billable)
