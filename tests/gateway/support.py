"""What the gateway's tests share: keys, raw answers, the subscription."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from gateway.apikeys import create_key
from tests.stack import API_KEY_PEPPER, Servers, Stack

COUNTERS = """
subscription ($id: ID!) {
  campaignCounters(campaignId: $id) {
    campaignId recipientTotal status sent delivered read failed replied
    optedOut sentPct deliveredPct readPct failedPct
  }
}
"""


@dataclass(frozen=True)
class Keys:
    """API keys of two workspaces, to see that one never sees the other."""

    one: str
    two: str


def make_key(servers: Servers, workspace: str) -> str:
    with psycopg.connect(servers.postgres.url) as conn:
        return create_key(conn, workspace, API_KEY_PEPPER)


def ask(stack: Stack, key: str, query: str, **variables: Any) -> dict[str, Any]:
    """The whole GraphQL answer, errors included."""
    reply = stack.http.post(
        f"{stack.gateway_url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    payload: dict[str, Any] = reply.json()
    return payload
