"""A workspace's own stop and start keywords, through the whole stack."""

from __future__ import annotations

from tests.gateway.inbound import PHONE, contact_writes, route_number_to_test
from tests.gateway.support import make_key
from tests.stack import Stack

SETTINGS = "{ workspaceSettings { stopKeywords startKeywords } }"

SET_KEYWORDS = """
mutation ($stop: [String!]!, $start: [String!]!) {
  setStopKeywords(stop: $stop, start: $start) {
    __typename
    ... on WorkspaceSettings { stopKeywords startKeywords }
    ... on InvalidKeywordsError { message }
  }
}
"""

OPTED_OUT = "query ($phone: String!) { contact(phone: $phone) { optedOut } }"


def test_a_workspace_has_no_keywords_of_its_own_at_first(
    stack: Stack, api_key: str, clean: None
) -> None:
    settings = stack.graphql(SETTINGS, api_key)["workspaceSettings"]

    assert settings == {"stopKeywords": [], "startKeywords": []}


def test_keywords_are_kept_normalized(stack: Stack, api_key: str, clean: None) -> None:
    answer = stack.graphql(
        SET_KEYWORDS, api_key, stop=["Darme de BAJA!"], start=["Quiero ofertas"]
    )["setStopKeywords"]

    assert answer == {
        "__typename": "WorkspaceSettings",
        "stopKeywords": ["darme de baja"],
        "startKeywords": ["quiero ofertas"],
    }
    assert stack.graphql(SETTINGS, api_key)["workspaceSettings"] == {
        "stopKeywords": ["darme de baja"],
        "startKeywords": ["quiero ofertas"],
    }


def test_a_default_keyword_cannot_change_its_meaning(
    stack: Stack, api_key: str, clean: None
) -> None:
    answer = stack.graphql(SET_KEYWORDS, api_key, stop=["start"], start=[])

    assert answer["setStopKeywords"] == {
        "__typename": "InvalidKeywordsError",
        "message": "a default keyword cannot change its meaning",
    }


def test_a_workspace_keyword_from_a_contact_opts_them_out(
    stack: Stack, api_key: str, clean: None
) -> None:
    route_number_to_test(stack)
    stack.graphql(SET_KEYWORDS, api_key, stop=["darme de baja"], start=[])

    contact_writes(stack, "Darme de baja")

    assert stack.graphql(OPTED_OUT, api_key, phone=PHONE)["contact"] == {
        "optedOut": True
    }


def test_keywords_belong_to_their_workspace(
    stack: Stack, api_key: str, clean: None
) -> None:
    stranger = make_key(stack.servers, "keywords-stranger")

    stack.graphql(SET_KEYWORDS, stranger, stop=["ya no"], start=[])

    settings = stack.graphql(SETTINGS, api_key)["workspaceSettings"]
    assert settings["stopKeywords"] == []
