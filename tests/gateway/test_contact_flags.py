"""Agents' flag mutations and the audit trail, through the whole stack."""

from __future__ import annotations

from tests.gateway.inbound import PHONE, contact_writes, route_number_to_test
from tests.gateway.support import make_key
from tests.stack import Stack

SET = """
mutation ($phone: String!, $flag: ContactFlag!, $note: String) {
  setContactFlag(phone: $phone, flag: $flag, note: $note, agent: "ana") {
    __typename
    ... on ContactFlagChanged { contact { phone optedOut inactive } }
    ... on InvalidPhoneError { phone message }
  }
}
"""

CLEAR = """
mutation ($phone: String!, $flag: ContactFlag!, $note: String) {
  clearContactFlag(phone: $phone, flag: $flag, note: $note, agent: "ana") {
    __typename
    ... on ContactFlagChanged { contact { optedOut inactive } }
  }
}
"""

FLAG_HISTORY = """
query ($phone: String!, $first: Int, $after: String) {
  contact(phone: $phone) {
    optedOut
    flagHistory(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      edges { node { flag value reason setBy note agent at } }
    }
  }
}
"""


def test_an_agent_opts_a_contact_out_with_a_note(
    stack: Stack, api_key: str, clean: None
) -> None:
    answer = stack.graphql(
        SET, api_key, phone="+1 650-555-0177", flag="OPTED_OUT", note="asked by phone"
    )["setContactFlag"]

    assert answer == {
        "__typename": "ContactFlagChanged",
        "contact": {"phone": PHONE, "optedOut": True, "inactive": False},
    }


def test_a_phone_that_is_not_a_number_is_an_error_in_the_result(
    stack: Stack, api_key: str, clean: None
) -> None:
    answer = stack.graphql(SET, api_key, phone="call me", flag="INACTIVE")

    assert answer["setContactFlag"]["__typename"] == "InvalidPhoneError"
    assert answer["setContactFlag"]["phone"] == "call me"


def test_the_flag_history_pages_newest_first_with_who_and_why(
    stack: Stack, api_key: str, clean: None
) -> None:
    stack.graphql(SET, api_key, phone=PHONE, flag="OPTED_OUT", note="asked")
    stack.graphql(CLEAR, api_key, phone=PHONE, flag="OPTED_OUT", note="mistake")

    first = stack.graphql(FLAG_HISTORY, api_key, phone=PHONE, first=1)["contact"]
    after = first["flagHistory"]["pageInfo"]["endCursor"]
    second = stack.graphql(FLAG_HISTORY, api_key, phone=PHONE, first=1, after=after)[
        "contact"
    ]

    nodes = [
        edge["node"]
        for page in (first, second)
        for edge in page["flagHistory"]["edges"]
    ]
    assert [(n["value"], n["reason"], n["setBy"], n["note"]) for n in nodes] == [
        (False, "agent_cleared", "agent", "mistake"),
        (True, "agent_set", "agent", "asked"),
    ]
    assert {n["agent"] for n in nodes} == {"ana"}
    assert first["flagHistory"]["pageInfo"]["hasNextPage"] is True


def test_a_new_stop_from_the_contact_wins_over_an_agents_clearing(
    stack: Stack, api_key: str, clean: None
) -> None:
    route_number_to_test(stack)
    stack.graphql(SET, api_key, phone=PHONE, flag="OPTED_OUT")
    stack.graphql(CLEAR, api_key, phone=PHONE, flag="OPTED_OUT")

    contact_writes(stack, "STOP")

    contact = stack.graphql(FLAG_HISTORY, api_key, phone=PHONE, first=1)["contact"]
    assert contact["optedOut"] is True
    latest = contact["flagHistory"]["edges"][0]["node"]
    assert (latest["reason"], latest["setBy"]) == ("stop_keyword", "rule")


def test_another_workspace_cannot_flag_or_see_the_contact(
    stack: Stack, api_key: str, clean: None
) -> None:
    stack.graphql(SET, api_key, phone=PHONE, flag="INACTIVE")
    stranger = make_key(stack.servers, "agent-flags-stranger")

    stack.graphql(CLEAR, stranger, phone=PHONE, flag="INACTIVE")

    contact = stack.graphql(FLAG_HISTORY, api_key, phone=PHONE)["contact"]
    assert len(contact["flagHistory"]["edges"]) == 1
