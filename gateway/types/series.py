"""A campaign over time: sends, deliveries, reads, failures and replies."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from gateway.context import Context
from gateway.errors import NotFoundError
from gateway.types.scalars import from_timestamp
from xobito.metrics.v1 import metrics_pb2 as mpb


@strawberry.enum(description="How wide each point of a series is.")
class SeriesBucket(Enum):
    MINUTE = mpb.SERIES_BUCKET_MINUTE
    HOUR = mpb.SERIES_BUCKET_HOUR
    DAY = mpb.SERIES_BUCKET_DAY


@strawberry.type(
    description="What happened in one bucket, each kind at its own time."
    " Buckets where nothing happened are left out."
)
class SeriesPoint:
    start: datetime
    sent: int
    delivered: int
    read: int
    failed: int
    replied: int

    @classmethod
    def of(cls, point: mpb.SeriesPoint) -> SeriesPoint:
        return cls(
            start=from_timestamp(point.start),
            sent=point.sent,
            delivered=point.delivered,
            read=point.read,
            failed=point.failed,
            replied=point.replied,
        )


async def campaign_series(
    context: Context, campaign_id: str, bucket: SeriesBucket
) -> list[SeriesPoint]:
    """The campaign's points, oldest first; none for a foreign campaign."""
    try:
        points = await context.metrics.get_campaign_series(
            context.workspace, campaign_id, bucket.value
        )
    except NotFoundError:
        return []
    return [SeriesPoint.of(point) for point in points]
