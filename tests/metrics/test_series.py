"""A campaign over time: each kind counted at its own time, per bucket."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from tests.metrics.helpers import WORKSPACE, Metrics, message, status
from xobito.metrics.v1 import metrics_pb2 as pb

MINUTE = 60
HOUR = 3600


def series(
    metrics: Metrics, campaign_id: str, bucket: pb.SeriesBucket.ValueType
) -> list[dict[str, Any]]:
    answer = metrics.stub.GetCampaignSeries(
        pb.GetCampaignSeriesRequest(
            workspace_id=WORKSPACE, campaign_id=campaign_id, bucket=bucket
        )
    )
    return [
        {"start": point.start.ToJsonString(), "counts": _counts(point)}
        for point in answer.points
    ]


def _counts(point: pb.SeriesPoint) -> tuple[int, ...]:
    return (point.sent, point.delivered, point.read, point.failed, point.replied)


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """Three sends at 10:00, their fates over the next two hours."""
    campaign_id = metrics.create().id
    phones = ["16505552001", "16505552002", "16505552003", "16505552004"]
    metrics.add(campaign_id, *phones)
    metrics.send(
        campaign_id,
        (phones[0], "wamid.s1", 5),
        (phones[1], "wamid.s2", 10),
        (phones[2], "wamid.s3", 50),
    )
    metrics.reject(campaign_id, phones[3], 131026, seconds=55)
    metrics.record(
        status("wamid.s1", "delivered", MINUTE + 1),
        status("wamid.s2", "delivered", MINUTE + 2),
        # A read with no delivered status: delivered and read at once.
        status("wamid.s3", "read", HOUR + 5),
        status("wamid.s1", "read", HOUR + 10),
        status("wamid.s2", "failed", 2 * MINUTE, code=131049),
        messages=[message("wamid.in1", phones[0], HOUR + 20, context="wamid.s1")],
    )
    return campaign_id


def test_minutes_count_each_kind_at_its_own_time(
    metrics: Metrics, campaign: str
) -> None:
    # wamid.s2's failure came after its delivery: kept out of `failed`.
    assert series(metrics, campaign, pb.SERIES_BUCKET_MINUTE) == [
        {"start": "2026-03-02T10:00:00Z", "counts": (3, 0, 0, 1, 0)},
        {"start": "2026-03-02T10:01:00Z", "counts": (0, 2, 0, 0, 0)},
        {"start": "2026-03-02T11:00:00Z", "counts": (0, 1, 2, 0, 1)},
    ]


def test_hours_add_up_their_minutes(metrics: Metrics, campaign: str) -> None:
    assert series(metrics, campaign, pb.SERIES_BUCKET_HOUR) == [
        {"start": "2026-03-02T10:00:00Z", "counts": (3, 2, 0, 1, 0)},
        {"start": "2026-03-02T11:00:00Z", "counts": (0, 1, 2, 0, 1)},
    ]


def test_a_day_adds_up_to_the_counters(metrics: Metrics, campaign: str) -> None:
    counters = metrics.campaign(campaign).counters

    [day] = series(metrics, campaign, pb.SERIES_BUCKET_DAY)

    assert day["start"] == "2026-03-02T00:00:00Z"
    assert day["counts"] == (
        counters.sent, counters.delivered, counters.read, counters.failed,
        counters.replied,
    )  # fmt: skip


def test_an_unspecified_bucket_is_a_minute(metrics: Metrics, campaign: str) -> None:
    assert series(metrics, campaign, pb.SERIES_BUCKET_UNSPECIFIED) == series(
        metrics, campaign, pb.SERIES_BUCKET_MINUTE
    )


def test_another_workspace_s_campaign_is_not_found(
    metrics: Metrics, campaign: str
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        metrics.stub.GetCampaignSeries(
            pb.GetCampaignSeriesRequest(workspace_id="other", campaign_id=campaign)
        )

    assert failure.value.code() is grpc.StatusCode.NOT_FOUND
