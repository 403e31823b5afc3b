"""compareCampaigns: counters, rates and cost per 1,000 recipients."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.metrics.helpers import Metrics, message, status
from tests.stack import Stack
from xobito.ingest.v1 import events_pb2 as ev

WORKSPACE = "test"
FOREIGN_NUMBER = "100000000000099"

COMPARE = """
query ($ids: [ID!]!) {
  compareCampaigns(ids: $ids) {
    id name createdAt recipientTotal
    counters { sent delivered read failed replied optedOut }
    deliveryRate readRate replyRate optOutRate billable
    perThousand { sent delivered read failed replied optedOut billable }
  }
}
"""


@pytest.fixture
def metrics(stack: Stack, clean: None) -> Iterator[Metrics]:
    with stack.channel("metrics") as channel:
        yield Metrics(channel, stack.servers)


def billed(wamid: str, seconds: float) -> ev.StatusEvent:
    event = status(wamid, "delivered", seconds, workspace=WORKSPACE)
    event.pricing_category = "marketing"
    event.billable = True
    return event


def small_campaign(metrics: Metrics) -> str:
    """10 recipients, all sent: 8 delivered (4 read, 1 replied), 2 failed."""
    campaign_id = metrics.create(workspace=WORKSPACE, name="Small").id
    phones = [f"165055590{n:02d}" for n in range(10)]
    metrics.add(campaign_id, *phones)
    metrics.send(campaign_id, *[(p, f"wamid.s{n}", n) for n, p in enumerate(phones)])
    metrics.record(
        *[billed(f"wamid.s{n}", 60) for n in range(8)],
        *[status(f"wamid.s{n}", "read", 90, workspace=WORKSPACE) for n in range(4)],
        *[
            status(f"wamid.s{n}", "failed", 60, code=131026, workspace=WORKSPACE)
            for n in (8, 9)
        ],
        messages=[
            message(
                "wamid.in-s0", phones[0], 120, context="wamid.s0", workspace=WORKSPACE
            )
        ],
    )
    return campaign_id


def large_campaign(metrics: Metrics) -> str:
    """40 recipients, 30 sent and delivered, 3 read, 1 replied STOP."""
    campaign_id = metrics.create(workspace=WORKSPACE, name="Large").id
    phones = [f"165055591{n:02d}" for n in range(40)]
    metrics.add(campaign_id, *phones)
    metrics.send(
        campaign_id, *[(p, f"wamid.l{n}", n) for n, p in enumerate(phones[:30])]
    )
    metrics.record(
        *[billed(f"wamid.l{n}", 60) for n in range(30)],
        *[status(f"wamid.l{n}", "read", 90, workspace=WORKSPACE) for n in range(3)],
        messages=[
            message(
                "wamid.in-l0",
                phones[0],
                120,
                context="wamid.l0",
                opt_out=True,
                workspace=WORKSPACE,
            )
        ],
    )
    return campaign_id


def compare(stack: Stack, api_key: str, *ids: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = stack.graphql(COMPARE, api_key, ids=list(ids))[
        "compareCampaigns"
    ]
    return found


def test_campaigns_are_compared_per_thousand_recipients(
    stack: Stack, api_key: str, metrics: Metrics
) -> None:
    small, large = small_campaign(metrics), large_campaign(metrics)

    found = compare(stack, api_key, large, small)

    assert [row.pop("createdAt") is not None for row in found] == [True, True]
    assert found == [
        {
            "id": large, "name": "Large", "recipientTotal": 40,
            "counters": {"sent": 30, "delivered": 30, "read": 3, "failed": 0,
                         "replied": 1, "optedOut": 1},
            "deliveryRate": 100.0, "readRate": 10.0, "replyRate": 3.3,
            "optOutRate": 3.3, "billable": 30,
            "perThousand": {"sent": 750.0, "delivered": 750.0, "read": 75.0,
                            "failed": 0.0, "replied": 25.0, "optedOut": 25.0,
                            "billable": 750.0},
        },
        {
            "id": small, "name": "Small", "recipientTotal": 10,
            "counters": {"sent": 10, "delivered": 8, "read": 4, "failed": 2,
                         "replied": 1, "optedOut": 0},
            "deliveryRate": 80.0, "readRate": 50.0, "replyRate": 12.5,
            "optOutRate": 0.0, "billable": 8,
            "perThousand": {"sent": 1000.0, "delivered": 800.0, "read": 400.0,
                            "failed": 200.0, "replied": 100.0, "optedOut": 0.0,
                            "billable": 800.0},
        },
    ]  # fmt: skip


def test_unknown_and_foreign_ids_are_left_out(
    stack: Stack, api_key: str, metrics: Metrics
) -> None:
    own = metrics.create(workspace=WORKSPACE).id
    foreign = metrics.create(workspace="someone-else", number=FOREIGN_NUMBER).id

    found = compare(stack, api_key, "no-such-campaign", foreign, own, own)

    assert [row["id"] for row in found] == [own]


def test_an_empty_campaign_has_no_rates(
    stack: Stack, api_key: str, metrics: Metrics
) -> None:
    own = metrics.create(workspace=WORKSPACE).id

    [row] = compare(stack, api_key, own)

    assert (row["deliveryRate"], row["optOutRate"]) == (None, None)
    assert row["perThousand"]["sent"] == 0.0


def test_more_than_twenty_ids_are_refused(stack: Stack, api_key: str) -> None:
    reply = httpx.post(
        f"{stack.gateway_url}/graphql",
        json={"query": COMPARE, "variables": {"ids": [f"c{n}" for n in range(21)]}},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=30,
    )

    [error] = reply.json()["errors"]
    assert "at most 20" in error["message"]
