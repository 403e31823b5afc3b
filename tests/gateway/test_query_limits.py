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
from tests.gateway.fakes import BROKEN_ID
from tests.gateway.support import Keys, ask, make_key
from tests.stack import Servers, Stack

# Each field one level below the one before: the longest path in the schema.
DEEPEST = """
{ campaigns { edges { node { recipients { edges { node { contact {
  history { edges { node { timeline { status } } } } } } } } } } } }
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
