"""The KPIs' notes and healthy ranges, and the opt-out rate."""

from __future__ import annotations

from gateway import kpis
from gateway.types.counters import Counters, Kpis
from tests.sender import start_campaign
from tests.stack import Stack

KPIS = """
query ($id: ID!) {
  campaign(id: $id) {
    kpis {
      optOutRate readCountIsFloor notes
      ranges { deliveryMin readMin replyMin replyMax optOutMax }
    }
  }
}
"""


def counters(delivered: int, opted_out: int) -> Counters:
    return Counters(
        sent=delivered,
        delivered=delivered,
        read=0,
        failed=0,
        replied=0,
        opted_out=opted_out,
        total=delivered,
    )


def test_the_opt_out_rate_is_of_delivered_messages() -> None:
    assert Kpis.of(counters(delivered=300, opted_out=4)).opt_out_rate == 1.3


def test_the_opt_out_rate_is_null_when_nothing_was_delivered() -> None:
    assert Kpis.of(counters(delivered=0, opted_out=0)).opt_out_rate is None


def test_the_campaign_page_says_read_counts_are_a_floor(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)

    answer = stack.graphql(KPIS, api_key, id=campaign_id)["campaign"]["kpis"]

    assert answer == {
        "optOutRate": None,
        "readCountIsFloor": True,
        "notes": [kpis.READ_FLOOR_NOTE],
        "ranges": {
            "deliveryMin": 90.0,
            "readMin": 30.0,
            "replyMin": 5.0,
            "replyMax": 15.0,
            "optOutMax": 2.0,
        },
    }
