"""What a GraphQL document may ask, and what a failure may tell.

The default gateway answers every query the schema allows; the strict
replicas show each limit refusing a document before anything runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLUnionType,
    get_named_type,
)

from gateway.bodylimit import MAX_BODY_BYTES
from gateway.schema import schema
from tests.gateway.fakes import BROKEN_ID, FakeServices
from tests.gateway.support import Keys, ask, make_key
from tests.stack import Servers, Stack

# Each field one level below the one before: the longest path in the schema.
# Small pages keep it under the cost limit: only its depth is tested here.
DEEPEST = """
{ campaigns(first: 10) { edges { node { recipients(first: 10) { edges { node {
  contact { history(first: 10) { edges { node { timeline { status } } } } }
} } } } } } }
"""
DEEPEST_FIELDS = 12


def longest_path(kind: GraphQLNamedType, seen: frozenset[str] = frozenset()) -> int:
    """Fields on the longest path below kind; no type appears twice."""
    if isinstance(kind, GraphQLUnionType):
        return max(longest_path(member, seen) for member in kind.types)
    if not isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
        return 0
    assert kind.name not in seen, f"the schema has a cycle through {kind.name}"
    return max(
        1 + longest_path(get_named_type(field.type), seen | {kind.name})
        for field in kind.fields.values()
    )


def message(answer: dict[str, Any]) -> str:
    return str(answer["errors"][0]["message"])


def test_no_path_in_the_schema_is_deeper_than_the_deepest_query() -> None:
    # A deeper path (or a cycle) needs DEEPEST and GRAPHQL_MAX_DEPTH revisited.
    roots = (schema._schema.query_type, schema._schema.subscription_type)

    assert max(longest_path(root) for root in roots if root) == DEEPEST_FIELDS


def test_the_deepest_query_passes_the_default_limits(
    gateway: Stack, servers: Servers
) -> None:
    # A workspace with no campaign: the limits are checked before anything runs.
    answer = ask(gateway, make_key(servers, "gw-deep"), DEEPEST)

    assert answer == {"data": {"campaigns": {"edges": []}}}


def test_a_query_deeper_than_the_limit_is_refused(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    strict, _ = strict_gateways
    too_deep = (
        "{ campaigns { edges { node { recipients { edges { node { phone } } } } } } }"
    )

    answer = ask(strict, strict_key, too_deep)

    assert answer.get("data") is None
    assert "exceeds maximum operation depth of 4" in message(answer)


def test_twenty_aliases_are_answered_by_default(gateway: Stack, keys: Keys) -> None:
    aliased = " ".join(f"a{n}: campaigns {{ totalCount }}" for n in range(20))

    answer = ask(gateway, keys.one, f"{{ {aliased} }}")

    assert "errors" not in answer
    assert len(answer["data"]) == 20


def test_more_aliases_than_the_limit_are_refused(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    strict, _ = strict_gateways
    aliased = " ".join(f"a{n}: workspaceSettings {{ stop }}" for n in range(4))

    answer = ask(strict, strict_key, f"{{ {aliased} }}")

    assert answer.get("data") is None
    assert "aliases found. Allowed: 3" in message(answer)


# Up to 250 recipients, each with 250 history items and 250 flag changes.
COSTLY_RECIPIENTS = """
recipients(first: 250) { edges { node { timeline { at } contact {
  history(first: 250) { edges { node { at timeline { at } } } }
  flagHistory(first: 250) { edges { cursor } }
} } } }
"""

# The cost of one campaign field asking COSTLY_RECIPIENTS.
COSTLY_CAMPAIGN = 1 + 1 + 250 * (1 + 1 + 2 + 1 + (1 + 250 * 5) + (1 + 250 * 2))

PAGED = """
query ($id: ID!, $first: Int) { campaign(id: $id) {
  recipients(first: $first) { edges { node { phone contact {
    history(first: $first) { edges { node { at } } }
  } } } }
} }
"""


def campaign_calls(fakes: FakeServices, campaign_id: str) -> list[object]:
    return [
        request
        for request in fakes.metrics.requests
        if getattr(request, "campaign_id", None) == campaign_id
    ]


def test_twenty_aliases_of_a_costly_campaign_are_refused_before_running(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_costly")
    aliased = " ".join(
        f'a{n}: campaign(id: "cmp_costly") {{ {COSTLY_RECIPIENTS} }}' for n in range(20)
    )

    answer = ask(gateway, keys.one, f"{{ {aliased} }}")

    assert answer.get("data") is None
    assert message(answer) == (
        f"query cost {20 * COSTLY_CAMPAIGN} exceeds the maximum of 50000"
    )
    assert campaign_calls(fakes, "cmp_costly") == []


def test_the_cost_counts_each_spread_of_a_fragment(gateway: Stack, keys: Keys) -> None:
    aliased = " ".join(
        f'a{n}: campaign(id: "cmp_unknown") {{ ...costly }}' for n in range(20)
    )
    fragment = f"fragment costly on Campaign {{ {COSTLY_RECIPIENTS} }}"

    answer = ask(gateway, keys.one, f"{{ {aliased} }} {fragment}")

    assert answer.get("data") is None
    assert message(answer).startswith(f"query cost {20 * COSTLY_CAMPAIGN} ")


def test_a_recipients_page_with_short_contact_histories_is_answered(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_paged")

    answer = ask(gateway, keys.one, PAGED, id="cmp_paged", first=10)

    assert answer == {"data": {"campaign": {"recipients": {"edges": []}}}}


def test_a_page_size_given_as_a_variable_counts_in_the_cost(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_paged_variable")

    answer = ask(gateway, keys.one, PAGED, id="cmp_paged_variable", first=250)

    assert answer.get("data") is None
    cost = 1 + 1 + 250 * (1 + 1 + 1 + 1 + (1 + 250 * 3))
    assert message(answer) == f"query cost {cost} exceeds the maximum of 50000"
    assert campaign_calls(fakes, "cmp_paged_variable") == []


def test_a_page_size_left_out_counts_as_the_default_page(
    gateway: Stack, keys: Keys
) -> None:
    # 50 campaigns, 50 recipients each, 50 history items each.
    nested = DEEPEST.replace("(first: 10)", "")

    answer = ask(gateway, keys.one, nested)

    assert answer.get("data") is None
    assert message(answer).startswith("query cost 510151 ")


def test_a_document_longer_than_the_token_limit_is_refused(
    strict_gateways: tuple[Stack, Stack], strict_key: str
) -> None:
    strict, _ = strict_gateways
    long = "{ campaigns { " + "totalCount " * 40 + "} }"

    answer = ask(strict, strict_key, long)

    assert answer.get("data") is None
    assert "more than 40 tokens" in message(answer)


def test_introspection_is_refused_by_default(gateway: Stack, keys: Keys) -> None:
    answer = ask(gateway, keys.one, "{ __schema { queryType { name } } }")

    assert answer.get("data") is None
    assert "introspection" in message(answer).lower()


def test_introspection_answers_in_development(dev_gateway: Stack, keys: Keys) -> None:
    answer = ask(dev_gateway, keys.one, "{ __schema { queryType { name } } }")

    assert answer["data"] == {"__schema": {"queryType": {"name": "Query"}}}


def test_typename_is_not_introspection(gateway: Stack, keys: Keys) -> None:
    answer = ask(gateway, keys.one, "{ __typename }")

    assert answer == {"data": {"__typename": "Query"}}


def test_a_mutation_over_get_is_refused(gateway: Stack, keys: Keys) -> None:
    mutation = 'mutation { setStopKeywords(stop: ["basta"], start: []) { __typename } }'

    reply = httpx.get(
        f"{gateway.gateway_url}/graphql",
        params={"query": mutation},
        headers={"Authorization": f"Bearer {keys.one}"},
    )

    assert reply.status_code == 400
    assert "mutations are not allowed when using get" in reply.text.lower()


def test_a_query_over_get_is_answered(gateway: Stack, keys: Keys) -> None:
    reply = httpx.get(
        f"{gateway.gateway_url}/graphql",
        params={"query": "{ campaigns { totalCount } }"},
        headers={"Authorization": f"Bearer {keys.one}"},
    )

    assert reply.status_code == 200
    assert "errors" not in reply.json()
    assert isinstance(reply.json()["data"]["campaigns"]["totalCount"], int)


def test_an_unexpected_failure_shows_a_reference_the_log_explains(
    gateway: Stack, keys: Keys
) -> None:
    answer = ask(
        gateway, keys.one, "query ($id: ID!) { campaign(id: $id) { id } }", id=BROKEN_ID
    )

    error = answer["errors"][0]
    reference = error["extensions"]["reference"]
    assert error["message"] == "Unexpected error."
    assert "secret internals" not in json.dumps(answer)
    logged = [
        json.loads(line)
        for line in gateway.log_path("gateway").read_text().splitlines()
        if reference in line
    ]
    assert [entry["event"] for entry in logged] == ["resolver failed"]
    assert logged[0]["level"] == "error"
    assert "INTERNAL" in logged[0]["exception"]


@pytest.mark.parametrize("body", [b"0", b"null", b'"query"', b'"\xff"', b"\xff"])
def test_a_body_that_is_not_a_json_object_is_refused_with_400(
    gateway: Stack, keys: Keys, body: bytes
) -> None:
    reply = httpx.post(
        f"{gateway.gateway_url}/graphql",
        content=body,
        headers={
            "Authorization": f"Bearer {keys.one}",
            "Content-Type": "application/json",
        },
    )

    assert reply.status_code == 400


def _big_query_body() -> bytes:
    padding = "x" * (MAX_BODY_BYTES + 1)
    query = "{ campaigns { totalCount } }"
    return json.dumps({"query": query, "variables": {"x": padding}}).encode()


def test_a_body_declared_over_the_cap_is_refused_with_413(
    gateway: Stack, keys: Keys
) -> None:
    reply = httpx.post(
        f"{gateway.gateway_url}/graphql",
        content=_big_query_body(),
        headers={"Authorization": f"Bearer {keys.one}"},
    )

    assert reply.status_code == 413
    assert "limited to" in reply.json()["errors"][0]["message"]


def test_a_chunked_body_over_the_cap_is_refused_with_413(
    gateway: Stack, keys: Keys
) -> None:
    body = _big_query_body()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    reply = httpx.post(
        f"{gateway.gateway_url}/graphql",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {keys.one}",
            "Content-Type": "application/json",
        },
    )

    assert reply.status_code == 413
