"""campaign.series and recipients(failureCategory:) over GraphQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.metrics.helpers import Metrics, message, status
from tests.stack import Stack

WORKSPACE = "test"
HOUR = 3600

SERIES = """
query ($id: ID!, $bucket: SeriesBucket!) {
  campaign(id: $id) {
    series(bucket: $bucket) { start sent delivered read failed replied }
  }
}
"""

FAILED = """
query ($id: ID!, $category: String) {
  campaign(id: $id) {
    recipients(failureCategory: $category, sort: SENT_AT_DESC, first: 1) {
      totalCount
      edges { node { phone failure { category } } }
    }
  }
}
"""


@pytest.fixture
def metrics(stack: Stack, clean: None) -> Iterator[Metrics]:
    with stack.channel("metrics") as channel:
        yield Metrics(channel, stack.servers)


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """Four sends at 10:00; deliveries, a read, a reply and failures."""
    campaign_id = metrics.create(workspace=WORKSPACE).id
    phones = ["16505558001", "16505558002", "16505558003", "16505558004"]
    metrics.add(campaign_id, *phones)
    metrics.send(campaign_id, *[(p, f"wamid.g{n}", n) for n, p in enumerate(phones)])
    metrics.record(
        status("wamid.g0", "delivered", 30, workspace=WORKSPACE),
        status("wamid.g0", "read", HOUR + 30, workspace=WORKSPACE),
        status("wamid.g1", "delivered", 90, workspace=WORKSPACE),
        status("wamid.g2", "failed", 70, code=131026, workspace=WORKSPACE),
        status("wamid.g3", "failed", 75, code=131049, workspace=WORKSPACE),
        messages=[
            message(
                "wamid.in-g0",
                phones[0],
                HOUR + 40,
                context="wamid.g0",
                workspace=WORKSPACE,
            )
        ],
    )
    return campaign_id


def test_the_series_counts_each_kind_in_its_minute(
    stack: Stack, api_key: str, campaign: str
) -> None:
    data = stack.graphql(SERIES, api_key, id=campaign, bucket="MINUTE")

    assert data["campaign"]["series"] == [
        {"start": "2026-03-02T10:00:00Z",
         "sent": 4, "delivered": 1, "read": 0, "failed": 0, "replied": 0},
        {"start": "2026-03-02T10:01:00Z",
         "sent": 0, "delivered": 1, "read": 0, "failed": 2, "replied": 0},
        {"start": "2026-03-02T11:00:00Z",
         "sent": 0, "delivered": 0, "read": 1, "failed": 0, "replied": 1},
    ]  # fmt: skip


def test_the_series_by_day_adds_up_to_the_counters(
    stack: Stack, api_key: str, campaign: str
) -> None:
    data = stack.graphql(SERIES, api_key, id=campaign, bucket="DAY")

    assert data["campaign"]["series"] == [
        {"start": "2026-03-02T00:00:00Z",
         "sent": 4, "delivered": 2, "read": 1, "failed": 2, "replied": 1},
    ]  # fmt: skip


def test_recipients_filter_by_failure_category(
    stack: Stack, api_key: str, campaign: str
) -> None:
    data = stack.graphql(FAILED, api_key, id=campaign, category="not_on_whatsapp")

    recipients = data["campaign"]["recipients"]
    assert recipients["totalCount"] == 1
    assert recipients["edges"] == [
        {"node": {"phone": "16505558003",
                  "failure": {"category": "not_on_whatsapp"}}}
    ]  # fmt: skip


def test_an_unknown_failure_category_is_an_error(
    stack: Stack, api_key: str, campaign: str
) -> None:
    reply = httpx.post(
        f"{stack.gateway_url}/graphql",
        json={"query": FAILED, "variables": {"id": campaign, "category": "x"}},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    [error] = reply.json()["errors"]
    assert "unknown failure category" in error["message"]
