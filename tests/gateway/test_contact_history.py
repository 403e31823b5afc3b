"""A contact's history: what they wrote merged with the messages sent them."""

from __future__ import annotations

from typing import Any

from tests.gateway.fakes import FakeServices, at
from tests.gateway.support import Keys, ask
from tests.stack import Stack
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.metrics.v1 import metrics_pb2 as mpb

HISTORY = """
query ($phone: String!, $first: Int, $after: String) {
  contact(phone: $phone) {
    history(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        kind at wamid text campaignId campaignName templateName status
        timeline { status at }
      } }
    }
  }
}
"""


def _story(
    fakes: FakeServices, phone: str, written: list[int], sent: list[int]
) -> None:
    """Messages written and sent at 11:00:<second>, newest first."""
    fakes.contacts.contacts[("gw-one", phone)] = cpb.Contact(
        workspace_id="gw-one", phone=phone
    )
    fakes.contacts.history[phone] = [
        cpb.HistoryItem(
            kind="inbound_message",
            occurred_at=at(f"2026-03-02T11:00:{second:02d}Z"),
            wamid=f"wamid.in-{second}",
            type="text",
            text=f"hello {second}",
        )
        for second in written
    ]
    fakes.metrics.sends[phone] = [
        mpb.ContactSend(
            campaign_id=f"c-{second}",
            campaign_name=f"Campaign {second}",
            template_name="spring_sale_2026",
            wamid=f"wamid.out-{second}",
            status=mpb.RECIPIENT_STATUS_DELIVERED,
            sent_at=at(f"2026-03-02T11:00:{second:02d}Z"),
            timeline=[
                mpb.TimelineEntry(
                    status="DELIVERED", at=at(f"2026-03-02T11:01:{second:02d}Z")
                )
            ],
        )
        for second in sent
    ]


def _walk(gateway: Stack, key: str, phone: str, first: int) -> list[dict[str, Any]]:
    """Every node, page after page."""
    nodes, after = [], None
    while True:
        data = gateway.graphql(HISTORY, key, phone=phone, first=first, after=after)
        history = data["contact"]["history"]
        nodes += [edge["node"] for edge in history["edges"]]
        if not history["pageInfo"]["hasNextPage"]:
            return nodes
        after = history["pageInfo"]["endCursor"]


def test_campaign_messages_show_their_campaign_template_and_timeline(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    _story(fakes, "16505556001", written=[], sent=[5])

    nodes = _walk(gateway, keys.one, "16505556001", first=10)

    assert nodes == [
        {
            "kind": "campaign_message",
            "at": "2026-03-02T11:00:05Z",
            "wamid": "wamid.out-5",
            "text": None,
            "campaignId": "c-5",
            "campaignName": "Campaign 5",
            "templateName": "spring_sale_2026",
            "status": "DELIVERED",
            "timeline": [{"status": "DELIVERED", "at": "2026-03-02T11:01:05Z"}],
        }
    ]


def test_pages_of_the_merged_history_are_newest_first_without_gaps(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    _story(fakes, "16505556002", written=[50, 47, 44, 41, 2], sent=[49, 48, 43, 42, 1])

    for first in (1, 2, 3, 4, 20):
        nodes = _walk(gateway, keys.one, "16505556002", first=first)

        assert [node["wamid"] for node in nodes] == [
            "wamid.in-50",
            "wamid.out-49",
            "wamid.out-48",
            "wamid.in-47",
            "wamid.in-44",
            "wamid.out-43",
            "wamid.out-42",
            "wamid.in-41",
            "wamid.in-2",
            "wamid.out-1",
        ], first


def test_at_the_same_instant_what_the_contact_wrote_comes_first(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    _story(fakes, "16505556003", written=[7], sent=[7])

    nodes = _walk(gateway, keys.one, "16505556003", first=1)

    assert [node["kind"] for node in nodes] == ["inbound_message", "campaign_message"]


def test_a_cursor_that_is_not_ours_is_refused(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    _story(fakes, "16505556004", written=[1], sent=[])

    reply = ask(gateway, keys.one, HISTORY, phone="16505556004", after="x")

    assert reply["errors"][0]["message"] == "invalid cursor"
