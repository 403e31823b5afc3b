"""Generated GraphQL against the whole running system: never a 500, never
a hang.

Documents come from the schema (hypothesis-graphql): valid ones, and
ones with one violation of it. Then fixed documents with random
variables, and bodies that are not GraphQL at all. Every answer must
come, in time, with a status below 500. Subscriptions are generated the
same way and sent over a socket, with messages that are not the
protocol's: each is answered or closes the socket as the client's fault
(44xx), never as the server's (1011). The examples are few, so that the
file stays fast; each run draws new ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from graphql import GraphQLSchema
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries
from websockets.exceptions import ConnectionClosed

from gateway.schema import printed, schema
from tests.examples import examples
from tests.gateway.support import make_key
from tests.gateway.wsclient import socket
from tests.stack import Stack

SCHEMA = printed()
# Far longer than any answer takes; a hang fails the example.
ANSWER_WITHIN_S = 10.0

fuzzing = settings(
    max_examples=examples(2),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

documents = st.one_of(
    queries(SCHEMA),
    queries(SCHEMA, mode=Mode.NEGATIVE),
    mutations(SCHEMA),
    mutations(SCHEMA, mode=Mode.NEGATIVE),
)

# hypothesis-graphql writes queries only: the subscription fields, posing as
# a query type, give the selections; the operation is named afterwards.
_AS_QUERIES = GraphQLSchema(
    query=schema._schema.subscription_type,
    types=list(schema._schema.type_map.values()),
)
subscriptions = st.one_of(
    queries(_AS_QUERIES), queries(_AS_QUERIES, mode=Mode.NEGATIVE)
).map(lambda document: "subscription " + str(document))

# Documents whose variables the fuzzer fills with anything JSON holds.
WITH_VARIABLES = [
    "query ($id: ID!, $first: Int, $after: String, $search: String,"
    " $status: RecipientStatus) { campaign(id: $id) { id recipients("
    "first: $first, after: $after, search: $search, status: $status)"
    " { totalCount edges { cursor node { phone } } } } }",
    "query ($phone: String!, $first: Int, $after: String) { contact(phone: $phone)"
    " { phone history(first: $first, after: $after) { edges { cursor } } } }",
    "query ($ids: [ID!]!) { compareCampaigns(ids: $ids) { id } }",
    "query ($first: Int, $after: String) { campaigns(first: $first, after: $after)"
    " { totalCount } unmatchedStatuses(first: $first, after: $after)"
    " { totalCount } }",
    "mutation ($id: ID!, $categories: [String!]) { retryFailed(campaignId: $id,"
    " categories: $categories) { __typename } }",
    "mutation ($stop: [String!]!, $start: [String!]!) { setStopKeywords("
    "stop: $stop, start: $start) { __typename } }",
]
VARIABLE_NAMES = ["id", "ids", "first", "after", "search", "status", "phone"]
VARIABLE_NAMES += ["categories", "stop", "start"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def fuzz_key(stack: Stack) -> str:
    """A workspace of its own: generated mutations change nothing else."""
    return make_key(stack.servers, "fuzz")


def post(stack: Stack, key: str, **body: Any) -> httpx.Response:
    return stack.http.post(
        f"{stack.gateway_url}/graphql",
        headers={"Authorization": f"Bearer {key}", **body.pop("headers", {})},
        timeout=ANSWER_WITHIN_S,
        **body,
    )


@fuzzing
@given(document=documents)
def test_documents_from_the_schema_are_answered(
    stack: Stack, fuzz_key: str, document: str
) -> None:
    reply = post(stack, fuzz_key, json={"query": document})

    assert reply.status_code < 500, reply.text
    assert "data" in reply.json() or "errors" in reply.json()


@fuzzing
@given(
    document=st.sampled_from(WITH_VARIABLES),
    variables=st.dictionaries(st.sampled_from(VARIABLE_NAMES), json_values),
)
def test_random_variables_are_answered(
    stack: Stack, fuzz_key: str, document: str, variables: dict[str, Any]
) -> None:
    reply = post(stack, fuzz_key, json={"query": document, "variables": variables})

    assert reply.status_code < 500, reply.text


@fuzzing
@example(body=b"0", content_type="application/json")
@example(body=b'"\xff"', content_type="application/json")
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        json_values.map(lambda value: httpx.Request("POST", "/", json=value).content),
    ),
    content_type=st.sampled_from(
        ["application/json", "application/graphql", "text/plain", "multipart/form-data"]
    ),
)
def test_bodies_that_are_not_graphql_are_refused_cleanly(
    stack: Stack, fuzz_key: str, body: bytes, content_type: str
) -> None:
    reply = post(stack, fuzz_key, content=body, headers={"Content-Type": content_type})

    assert reply.status_code < 500, reply.text


@pytest.fixture
def crashes(stack: Stack) -> Callable[[], list[str]]:
    """The gateway's log lines of unhandled exceptions since the test began."""
    log = stack.log_path("gateway")
    start = log.stat().st_size

    def since() -> list[str]:
        with log.open("rb") as lines:
            lines.seek(start)
            text = lines.read().decode(errors="replace")
        return [line for line in text.splitlines() if "Exception in" in line]

    return since


def answer_or_close(ws: Any, *messages: str) -> dict[str, Any] | int | None:
    """Send the messages, then the socket's next message, or the code it
    was closed with (None when it went without a close frame)."""
    try:
        for message in messages:
            ws.connection.send(message)
        return ws.receive(timeout=ANSWER_WITHIN_S)
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


@fuzzing
@given(document=subscriptions)
def test_subscriptions_from_the_schema_are_answered(
    stack: Stack, fuzz_key: str, crashes: Callable[[], list[str]], document: str
) -> None:
    with socket(stack.gateway_url) as ws:
        ws.init(fuzz_key)
        ws.subscribe(document)
        answer = answer_or_close(ws)

    assert isinstance(answer, dict), f"closed with {answer}"
    assert answer["type"] in {"next", "error", "complete"}
    assert crashes() == []


@fuzzing
@given(
    message=st.one_of(
        st.dictionaries(st.sampled_from(["id", "type", "payload"]), json_values),
        json_values,
    ).map(json.dumps)
    | st.text(max_size=100)
)
def test_messages_outside_the_protocol_close_the_socket_as_the_clients_fault(
    stack: Stack, fuzz_key: str, crashes: Callable[[], list[str]], message: str
) -> None:
    with socket(stack.gateway_url) as ws:
        ws.init(fuzz_key)
        answer = answer_or_close(ws, message, json.dumps({"type": "ping"}))

    assert crashes() == []
    if isinstance(answer, int):
        assert 4400 <= answer < 4500
