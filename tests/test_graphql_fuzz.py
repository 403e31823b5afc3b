"""Generated GraphQL against the whole running system: never a 500, never
a hang.

Documents come from the schema (hypothesis-graphql): valid ones, and
ones with one violation of it. Then fixed documents with random
variables, and bodies that are not GraphQL at all. Every answer must
come, in time, with a status below 500. The examples are few, so that
the file stays fast; each run draws new ones.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries

from gateway.schema import printed
from tests.gateway.support import make_key
from tests.stack import Stack

SCHEMA = printed()
# Far longer than any answer takes; a hang fails the example.
ANSWER_WITHIN_S = 10.0

fuzzing = settings(
    max_examples=30,
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
    return httpx.post(
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
