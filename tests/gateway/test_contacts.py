"""Contact queries: what the gateway asks contacts, and what it shows."""

from __future__ import annotations

from tests.gateway.fakes import FakeServices, at
from tests.gateway.support import Keys, ask
from tests.stack import Stack
from xobito.contacts.v1 import contacts_pb2 as cpb

CONTACT = """
query ($phone: String!) {
  contact(phone: $phone) {
    phone name inactive inactiveReason optedOut optedOutReason optedOutAt
    failureStreak inactiveCandidate lastInboundAt
    history(first: 10) {
      pageInfo { hasNextPage endCursor }
      edges { node { kind at wamid type text contextWamid flag value reason } }
    }
  }
}
"""


def test_a_contact_is_found_with_plus_spaces_and_dashes(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.contacts.contacts[("gw-one", "16505551234")] = cpb.Contact(
        workspace_id="gw-one",
        phone="16505551234",
        opted_out=True,
        opted_out_reason="stop_keyword",
        opted_out_at=at("2026-03-02T11:00:00Z"),
        failure_streak=1,
    )

    contact = gateway.graphql(CONTACT, keys.one, phone="+1 650-555-1234")["contact"]

    assert contact["phone"] == "16505551234"
    assert contact["optedOut"] is True
    assert contact["optedOutReason"] == "stop_keyword"
    assert contact["optedOutAt"] == "2026-03-02T11:00:00Z"
    assert contact["inactiveCandidate"] is True


def test_a_contacts_history_shows_messages_and_flag_changes(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.contacts.contacts[("gw-one", "16505554321")] = cpb.Contact(
        workspace_id="gw-one", phone="16505554321"
    )
    fakes.contacts.history["16505554321"] = [
        cpb.HistoryItem(
            kind="flag_change",
            occurred_at=at("2026-03-02T11:00:01Z"),
            flag="opted_out",
            value=True,
            reason="stop_keyword",
        ),
        cpb.HistoryItem(
            kind="inbound_message",
            occurred_at=at("2026-03-02T11:00:00Z"),
            wamid="wamid.in",
            type="text",
            text="STOP",
        ),
    ]

    contact = gateway.graphql(CONTACT, keys.one, phone="16505554321")["contact"]

    nodes = [edge["node"] for edge in contact["history"]["edges"]]
    assert nodes == [
        {
            "kind": "flag_change",
            "at": "2026-03-02T11:00:01Z",
            "wamid": None,
            "type": None,
            "text": None,
            "contextWamid": None,
            "flag": "opted_out",
            "value": True,
            "reason": "stop_keyword",
        },
        {
            "kind": "inbound_message",
            "at": "2026-03-02T11:00:00Z",
            "wamid": "wamid.in",
            "type": "text",
            "text": "STOP",
            "contextWamid": None,
            "flag": None,
            "value": None,
            "reason": None,
        },
    ]


def test_an_unknown_contact_is_null(gateway: Stack, keys: Keys) -> None:
    answer = ask(gateway, keys.one, CONTACT, phone="+1 650 555 0000")

    assert answer == {"data": {"contact": None}}


def test_a_phone_that_is_not_a_number_is_null(gateway: Stack, keys: Keys) -> None:
    answer = ask(gateway, keys.one, CONTACT, phone="call me")

    assert answer == {"data": {"contact": None}}
