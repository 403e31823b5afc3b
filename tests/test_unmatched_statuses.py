"""Statuses for messages no campaign registered: kept, then listed.

A status whose wamid no send has brought waits, parked; the send that
brings it applies it. One still waiting after UNMATCHED_AFTER_SECONDS
(an hour by default) is listed by the workspace's unmatchedStatuses.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tests.gateway.support import make_key
from tests.sender import (
    CASES,
    Send,
    post_case,
    record_sends,
    start_campaign,
)
from tests.stack import Stack

UNMATCHED = """
query ($first: Int, $after: String) {
  unmatchedStatuses(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { wamid status occurredAt receivedAt phoneNumberId } }
  }
}
"""

CAMPAIGN = """
query ($id: ID!) {
  campaign(id: $id) { counters { sent delivered } }
}
"""

UNKNOWN = CASES["status_unknown_wamid"]
UNKNOWN_WAMID = UNKNOWN.expect["events"][0]["wamid"]


def age_parked_statuses(stack: Stack, seconds: int) -> None:
    """Make every parked status seconds older, as if it came that long ago."""
    with psycopg.connect(stack.servers.postgres.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE metrics.status_events"
            " SET received_at = received_at - make_interval(secs => %s)"
            " WHERE parked",
            [seconds],
        )


def unmatched(stack: Stack, api_key: str, **page: Any) -> dict[str, Any]:
    found: dict[str, Any] = stack.graphql(UNMATCHED, api_key, **page)[
        "unmatchedStatuses"
    ]
    return found


def test_a_status_parked_for_over_an_hour_is_listed(
    stack: Stack, api_key: str, clean: None
) -> None:
    start_campaign(stack)

    post_case(stack, UNKNOWN.name)
    age_parked_statuses(stack, 3601)
    listed = unmatched(stack, api_key)

    assert listed["totalCount"] == 1
    [edge] = listed["edges"]
    node = edge["node"]
    assert node["wamid"] == UNKNOWN_WAMID
    assert node["status"] == "delivered"
    assert node["occurredAt"] == UNKNOWN.expect["events"][0]["timestamp"]
    assert node["phoneNumberId"] == "100000000000001"
    assert node["receivedAt"].endswith("Z")


def test_a_status_parked_for_less_than_an_hour_is_not_listed_yet(
    stack: Stack, api_key: str, clean: None
) -> None:
    start_campaign(stack)

    post_case(stack, UNKNOWN.name)
    age_parked_statuses(stack, 3000)

    assert unmatched(stack, api_key)["totalCount"] == 0


def test_the_send_that_brings_the_wamid_applies_and_unlists_it(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack)
    post_case(stack, UNKNOWN.name)
    age_parked_statuses(stack, 7200)

    applied = record_sends(stack, campaign_id, Send("16505557777", UNKNOWN_WAMID))
    campaign = stack.graphql(CAMPAIGN, api_key, id=campaign_id)["campaign"]

    assert applied == 1
    assert campaign["counters"] == {"sent": 1, "delivered": 1}
    assert unmatched(stack, api_key)["totalCount"] == 0


def test_unmatched_statuses_page_oldest_first(
    stack: Stack, api_key: str, clean: None
) -> None:
    start_campaign(stack)
    post_case(stack, UNKNOWN.name)
    age_parked_statuses(stack, 3600)
    post_case(stack, "status_read_basic")  # its wamid is not registered either
    age_parked_statuses(stack, 3600)

    first = unmatched(stack, api_key, first=1)
    second = unmatched(stack, api_key, first=1, after=first["pageInfo"]["endCursor"])

    assert first["totalCount"] == 2
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["edges"][0]["node"]["wamid"] == UNKNOWN_WAMID
    assert second["edges"][0]["node"]["status"] == "read"
    assert second["pageInfo"]["hasNextPage"] is False


def test_another_workspace_does_not_see_them(
    stack: Stack, api_key: str, clean: None
) -> None:
    start_campaign(stack)
    stranger = make_key(stack.servers, "unmatched-stranger")

    post_case(stack, UNKNOWN.name)
    age_parked_statuses(stack, 7200)

    assert unmatched(stack, stranger)["totalCount"] == 0
