"""Counters of what became of a campaign's messages, and their KPIs."""

from __future__ import annotations

import strawberry

from gateway import kpis
from xobito.metrics.v1 import metrics_pb2 as mpb


@strawberry.type(description="Recipients per outcome; percentages of the total.")
class Counters:
    sent: int
    delivered: int
    read: int
    failed: int
    replied: int
    opted_out: int
    total: strawberry.Private[int]

    @strawberry.field
    def sent_pct(self) -> float:
        return kpis.percent(self.sent, self.total)

    @strawberry.field
    def delivered_pct(self) -> float:
        return kpis.percent(self.delivered, self.total)

    @strawberry.field
    def read_pct(self) -> float:
        return kpis.percent(self.read, self.total)

    @strawberry.field
    def failed_pct(self) -> float:
        return kpis.percent(self.failed, self.total)

    @classmethod
    def of(cls, counters: mpb.Counters, recipient_total: int) -> Counters:
        return cls(
            sent=counters.sent,
            delivered=counters.delivered,
            read=counters.read,
            failed=counters.failed,
            replied=counters.replied,
            opted_out=counters.opted_out,
            total=recipient_total,
        )


@strawberry.type(
    description="Where healthy rates lie, in percent, as the warnings judge."
)
class KpiRanges:
    delivery_min: float = strawberry.field(
        description="deliveryRate at or above it is healthy."
    )
    read_min: float = strawberry.field(description="readRate at or above it.")
    reply_min: float = strawberry.field(
        description="replyRate from here to replyMax is usual for marketing."
    )
    reply_max: float
    opt_out_max: float = strawberry.field(description="optOutRate below it is healthy.")


_RANGES = KpiRanges(
    delivery_min=kpis.LOW_DELIVERY_RATE,
    read_min=kpis.LOW_READ_RATE,
    reply_min=kpis.USUAL_REPLY_MIN,
    reply_max=kpis.USUAL_REPLY_MAX,
    opt_out_max=kpis.HIGH_OPT_OUT_RATE,
)


@strawberry.type(description="Rates along the funnel in percent; null for 0/0.")
class Kpis:
    delivery_rate: float | None = strawberry.field(description="delivered / sent")
    read_rate: float | None = strawberry.field(description="read / delivered")
    reply_rate: float | None = strawberry.field(description="replied / delivered")
    opt_out_rate: float | None = strawberry.field(description="optedOut / delivered")
    warnings: list[str]
    read_count_is_floor: bool = strawberry.field(
        resolver=lambda: True,
        description="Always true: reads hidden by read receipts never arrive.",
    )
    notes: list[str] = strawberry.field(
        resolver=lambda: [kpis.READ_FLOOR_NOTE],
        description="How to read the figures, in plain words.",
    )
    ranges: KpiRanges = strawberry.field(
        resolver=lambda: _RANGES, description="Where healthy rates lie."
    )

    @classmethod
    def of(cls, counters: Counters) -> Kpis:
        sent, delivered = counters.sent, counters.delivered
        return cls(
            delivery_rate=kpis.rate(delivered, sent),
            read_rate=kpis.rate(counters.read, delivered),
            reply_rate=kpis.rate(counters.replied, delivered),
            opt_out_rate=kpis.rate(counters.opted_out, delivered),
            warnings=kpis.warnings(
                sent=sent,
                delivered=delivered,
                read=counters.read,
                opted_out=counters.opted_out,
            ),
        )
