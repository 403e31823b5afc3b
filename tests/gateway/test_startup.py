"""Starting up: the development key, and services that are not up yet."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import psycopg
import pytest

from gateway.apikeys import digest
from tests.stack import Servers, Stack
from xobito.devstack import free_port

DEV_KEY = "xo_development-key-for-the-gateway-tests-0000000"


@pytest.fixture(scope="module")
def lonely_gateway(servers: Servers) -> Iterator[Stack]:
    """A gateway whose metrics and contacts never answer."""
    nobody = f"127.0.0.1:{free_port()}"
    stack = Stack(
        servers,
        extra_env={
            "METRICS_TARGET": nobody,
            "CONTACTS_TARGET": nobody,
            "DEV_API_KEY": DEV_KEY,
        },
    )
    try:
        stack.start("gateway")
        yield stack
    finally:
        stack.stop()


def test_the_gateway_starts_while_the_services_are_down(
    lonely_gateway: Stack,
) -> None:
    reply = httpx.get(f"{lonely_gateway.gateway_url}/healthz")

    assert reply.status_code == 200


def test_a_query_to_a_service_that_is_down_says_so(lonely_gateway: Stack) -> None:
    reply = httpx.post(
        f"{lonely_gateway.gateway_url}/graphql",
        json={"query": "{ campaigns { totalCount } }"},
        headers={"Authorization": f"Bearer {DEV_KEY}"},
    )

    assert reply.json()["errors"][0]["message"] == "metrics is unavailable, try again"


def test_the_development_key_opens_the_dev_workspace(lonely_gateway: Stack) -> None:
    with psycopg.connect(lonely_gateway.servers.postgres.url) as conn:
        row = conn.execute(
            "SELECT workspace_id FROM gateway.api_keys WHERE key_digest = %s",
            [digest(DEV_KEY)],
        ).fetchone()

    assert row == ("dev",)
