"""A key of another workspace learns nothing of the workspace `test`.

Workspace A (`test`) plays a campaign, flags a contact, keeps its own
stop word and an unmatched status. An outsider's key then tries every
root field of the schema, every mutation and subscription, and the CSV
export, naming A's campaign and A's contact. A second outsider does the
same with a campaign and a number nobody has: the two answers must be
the same once A's names are swapped for the unknown ones, so no answer
(not even an error) tells A's things from nothing. The list of root
fields comes from the schema: a new field fails the test until it is
tried here too.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.schema import schema
from tests.gateway.support import make_key
from tests.gateway.wsclient import socket
from tests.sender import post_case
from tests.stack import Stack
from tests.test_unmatched_statuses import age_parked_statuses
from xobito.simulate import simulate

UNKNOWN_CAMPAIGN = "cmp_nobody_ever_made_this"
UNKNOWN_PHONE = "15550009876"


@dataclass(frozen=True)
class Operation:
    kind: str  # query, mutation, subscription or csv
    field: str
    document: str
    variables: dict[str, str | list[str]]


def op(kind: str, field: str, document: str, **variables: Any) -> Operation:
    return Operation(kind, field, document, variables)


CONTACT = """
  phone name optedOut inactive failureStreak
  history { edges { node { kind wamid text flag campaignId status } } }
  flagHistory { edges { node { flag value reason setBy } } }
"""

# Each with "$campaign" or "$phone" where A's or the unknown one goes.
OPERATIONS = [
    op("query", "campaign", "query ($id: ID!) { campaign(id: $id) { id name } }",
       id="$campaign"),
    op("query", "campaigns",
       "{ campaigns(first: 250) { totalCount edges { node { id name } } } }"),
    op("query", "compareCampaigns",
       "query ($ids: [ID!]!) { compareCampaigns(ids: $ids) { id name } }",
       ids=["$campaign"]),
    op("query", "contact",
       f"query ($phone: String!) {{ contact(phone: $phone) {{ {CONTACT} }} }}",
       phone="$phone"),
    op("query", "workspaceSettings",
       "{ workspaceSettings { stopKeywords startKeywords } }"),
    op("query", "unmatchedStatuses",
       "{ unmatchedStatuses(first: 250) { totalCount edges { node { wamid } } } }"),
    op("mutation", "retryFailed",
       """mutation ($id: ID!) { retryFailed(campaignId: $id) {
            __typename
            ... on RetryQueued { campaignId queued skipped { optedOut inactive } }
            ... on CampaignNotFoundError { campaignId message } } }""",
       id="$campaign"),
    op("mutation", "setContactFlag",
       f"""mutation ($phone: String!) {{
            setContactFlag(phone: $phone, flag: INACTIVE, note: "outsider") {{
              __typename ... on ContactFlagChanged {{ contact {{ {CONTACT} }} }}
              ... on InvalidPhoneError {{ message }} }} }}""",
       phone="$phone"),
    op("mutation", "clearContactFlag",
       f"""mutation ($phone: String!) {{
            clearContactFlag(phone: $phone, flag: OPTED_OUT) {{
              __typename ... on ContactFlagChanged {{ contact {{ {CONTACT} }} }}
              ... on InvalidPhoneError {{ message }} }} }}""",
       phone="$phone"),
    op("mutation", "setStopKeywords",
       """mutation { setStopKeywords(stop: ["outsiderstop"], start: []) {
            __typename ... on WorkspaceSettings { stopKeywords startKeywords } } }"""),
    op("mutation", "eraseContact",
       """mutation ($phone: String!) { eraseContact(phone: $phone) {
            __typename ... on ContactErased { phone rowsErased } } }""",
       phone="$phone"),
    op("subscription", "campaignCounters",
       "subscription ($id: ID!) { campaignCounters(campaignId: $id) { sent } }",
       id="$campaign"),
    op("subscription", "recipientUpdates",
       "subscription ($id: ID!) { recipientUpdates(campaignId: $id) { phone } }",
       id="$campaign"),
    op("csv", "recipients.csv", "/campaigns/$campaign/recipients.csv"),
]  # fmt: skip

SNAPSHOT = f"""
query ($id: ID!, $phone: String!) {{
  campaign(id: $id) {{
    id name recipientTotal
    counters {{ sent delivered read failed replied optedOut }}
    recipients(first: 250) {{
      totalCount edges {{ node {{ phone name status wamid repliedAt }} }}
    }}
  }}
  contact(phone: $phone) {{ {CONTACT} }}
  workspaceSettings {{ stopKeywords startKeywords }}
  unmatchedStatuses(first: 250) {{ totalCount edges {{ node {{ wamid }} }} }}
  campaigns(first: 250) {{ totalCount }}
}}
"""


@dataclass(frozen=True)
class World:
    stack: Stack
    key: str  # workspace A's
    campaign: str
    phone: str
    outsider: str  # tries A's campaign and contact
    stranger: str  # tries ones nobody has
    before: str  # A's own view, before the outsiders came


def snapshot(world: World) -> str:
    return json.dumps(
        world.stack.graphql(SNAPSHOT, world.key, id=world.campaign, phone=world.phone),
        sort_keys=True,
    )


@pytest.fixture(scope="module")
def world(stack: Stack, api_key: str) -> Iterator[World]:
    target = stack.simulation_target(api_key)
    campaign, *_ = asyncio.run(simulate(target, recipients=60, seed=31, duration=0))
    rows = stack.graphql(
        "query ($id: ID!) { campaign(id: $id) {"
        " recipients(first: 250) { edges { node { phone repliedAt } } } } }",
        api_key,
        id=campaign,
    )["campaign"]["recipients"]["edges"]
    phone = next(row["node"]["phone"] for row in rows if row["node"]["repliedAt"])
    post_case(stack, "status_unknown_wamid")
    age_parked_statuses(stack, 7200)
    settings = stack.graphql(
        "{ workspaceSettings { stopKeywords startKeywords } }", api_key
    )["workspaceSettings"]
    keywords = "mutation ($stop: [String!]!, $start: [String!]!) {" \
        " setStopKeywords(stop: $stop, start: $start) { __typename } }"  # fmt: skip
    stack.graphql(
        keywords,
        api_key,
        stop=[*settings["stopKeywords"], "workspaceastop"],
        start=settings["startKeywords"],
    )
    stack.graphql(
        "mutation ($phone: String!) { setContactFlag(phone: $phone, flag: OPTED_OUT,"
        ' note: "workspace a") { __typename } }',
        api_key,
        phone=phone,
    )
    partial = World(stack, api_key, campaign, phone, "", "", "")
    made = World(
        stack,
        api_key,
        campaign,
        phone,
        outsider=make_key(stack.servers, "isolation-outsider"),
        stranger=make_key(stack.servers, "isolation-stranger"),
        before=snapshot(partial),
    )
    try:
        yield made
    finally:
        stack.graphql(keywords, api_key, **_keywords(settings))


def _keywords(settings: dict[str, list[str]]) -> dict[str, list[str]]:
    return {"stop": settings["stopKeywords"], "start": settings["startKeywords"]}


def filled(value: Any, campaign: str, phone: str) -> Any:
    if isinstance(value, list):
        return [filled(item, campaign, phone) for item in value]
    return value.replace("$campaign", campaign).replace("$phone", phone)


def attempt(
    world: World, operation: Operation, key: str, campaign: str, phone: str
) -> str:
    """The whole answer, as text, to the operation with those names."""
    variables = {
        name: filled(value, campaign, phone)
        for name, value in operation.variables.items()
    }
    if operation.kind == "csv":
        reply = world.stack.http.get(
            world.stack.gateway_url + filled(operation.document, campaign, phone),
            headers={"Authorization": f"Bearer {key}"},
        )
        return f"{reply.status_code} {reply.text}"
    if operation.kind == "subscription":
        with socket(world.stack.gateway_url) as ws:
            ws.init(key)
            ws.subscribe(operation.document, **variables)
            return json.dumps([ws.receive(), ws.receive()], sort_keys=True)
    reply = world.stack.http.post(
        f"{world.stack.gateway_url}/graphql",
        json={"query": operation.document, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    return f"{reply.status_code} {json.dumps(reply.json(), sort_keys=True)}"


def root_fields(kind: str) -> set[tuple[str, str]]:
    root = getattr(schema._schema, f"{kind}_type")
    return {(kind, name) for name in root.fields}


def test_every_root_field_and_the_export_are_tried() -> None:
    every = {("csv", "recipients.csv")}
    for kind in ("query", "mutation", "subscription"):
        every |= root_fields(kind)

    assert {(o.kind, o.field) for o in OPERATIONS} == every


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.field)
def test_an_outsider_cannot_tell_workspace_a_from_nothing(
    world: World, operation: Operation
) -> None:
    theirs = attempt(world, operation, world.outsider, world.campaign, world.phone)
    nothing = attempt(world, operation, world.stranger, UNKNOWN_CAMPAIGN, UNKNOWN_PHONE)

    swapped = theirs.replace(world.campaign, UNKNOWN_CAMPAIGN).replace(
        world.phone, UNKNOWN_PHONE
    )
    assert swapped == nothing
    assert "workspaceastop" not in theirs


def test_workspace_a_is_as_it_was_after_the_outsider(world: World) -> None:
    for operation in OPERATIONS:
        attempt(world, operation, world.outsider, world.campaign, world.phone)

    assert snapshot(world) == world.before
