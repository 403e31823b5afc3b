"""Checked documents are kept by their text; the limits hold all the same.

The schema runs in-process here: every document below is refused before
any resolver runs, or reaches only a campaign nobody has.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from graphql import specified_rules

from gateway.errors import NotFoundError
from gateway.guards import Documents
from gateway.schema import Schema, build
from xobito.settings import Settings

STRICT = Settings(
    graphql_max_depth=4,
    graphql_max_aliases=3,
    graphql_max_tokens=60,
    graphql_max_cost=500,
)

PAGED = """
query ($id: ID!, $first: Int) { campaign(id: $id) {
  recipients(first: $first) { edges { node { phone } } } } }
"""
TOO_DEEP = (
    "{ campaigns { edges { node { recipients { edges { node { phone } } } } } } }"
)


class NoCampaigns:
    async def get_campaign(self, workspace_id: str, campaign_id: str) -> None:
        raise NotFoundError("campaign not found")

    async def list_recipients(self, request: object) -> None:
        raise NotFoundError("campaign not found")


class Context:
    workspace = "ws"
    metrics = NoCampaigns()


@pytest.fixture(scope="module")
def strict() -> Schema:
    return build(STRICT)


def run(schema: Schema, query: str, **variables: Any) -> dict[str, Any]:
    result = asyncio.run(
        schema.execute(query, variable_values=variables, context_value=Context())
    )
    errors = [error.message for error in result.errors or ()]
    return {"data": result.data, "errors": errors}


def test_the_same_text_is_refused_when_its_variables_cost_too_much(
    strict: Schema,
) -> None:
    cheap = run(strict, PAGED, id="cmp_1", first=10)
    costly = run(strict, PAGED, id="cmp_1", first=250)
    cheap_again = run(strict, PAGED, id="cmp_1", first=10)

    assert cheap == {"data": {"campaign": None}, "errors": []}
    assert costly == {
        "data": None,
        "errors": [f"query cost {1 + 1 + 250 * 3} exceeds the maximum of 500"],
    }
    assert cheap_again == cheap


def test_a_page_size_written_as_a_whole_float_costs_as_that_integer(
    strict: Schema,
) -> None:
    # GraphQL's Int takes a variable of 250.0 and runs it as 250.
    assert run(strict, PAGED, id="cmp_1", first=250.0) == {
        "data": None,
        "errors": [f"query cost {1 + 1 + 250 * 3} exceeds the maximum of 500"],
    }


def test_a_default_page_size_counts_in_the_cost_of_a_known_text(
    strict: Schema,
) -> None:
    run(strict, PAGED, id="cmp_1", first=1)

    # Without `first`, a page holds 50: 1 + 1 + 50 * 3 is under 500.
    assert run(strict, PAGED, id="cmp_1")["errors"] == []


def test_a_refused_document_is_refused_each_time_it_is_asked(
    strict: Schema,
) -> None:
    answers = [run(strict, TOO_DEEP) for _ in range(3)]

    for answer in answers:
        assert answer["data"] is None
        assert "exceeds maximum operation depth of 4" in answer["errors"][0]


def test_a_passing_document_does_not_let_a_deeper_one_through(
    strict: Schema,
) -> None:
    shallow = "{ campaigns { edges { node { id } } } }"
    run(strict, shallow)

    assert run(strict, TOO_DEEP)["data"] is None


def test_too_many_aliases_are_refused_each_time(strict: Schema) -> None:
    aliased = "{ " + " ".join(f"a{n}: __typename" for n in range(4)) + " }"

    for _ in range(2):
        assert "aliases found. Allowed: 3" in run(strict, aliased)["errors"][0]


def test_a_text_over_the_token_limit_is_refused_each_time(strict: Schema) -> None:
    long = "{ " + "__typename " * 80 + "}"

    for _ in range(2):
        answer = run(strict, long)
        assert answer["data"] is None
        assert "more than 60 tokens" in answer["errors"][0]


def test_introspection_is_refused_each_time(strict: Schema) -> None:
    for _ in range(2):
        answer = run(strict, "{ __schema { queryType { name } } }")
        assert "introspection" in answer["errors"][0].lower()


def test_a_known_text_is_parsed_and_validated_once(strict: Schema) -> None:
    documents = Documents(specified_rules, max_tokens=100)

    first = documents.get(strict._schema, "{ __typename }")
    again = documents.get(strict._schema, "{ __typename }")

    assert again is first


def test_a_long_text_is_checked_afresh_each_time(strict: Schema) -> None:
    documents = Documents(specified_rules, max_tokens=100)
    long = "{ __typename }" + " " * Documents.MAX_CACHED_CHARS

    first = documents.get(strict._schema, long)
    again = documents.get(strict._schema, long)

    assert again is not first
    assert again[1] == ()
