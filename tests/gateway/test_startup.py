"""Starting up: the development key, keys stored before the pepper, and
services that are not up yet."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from gateway.apikeys import digest
from tests.stack import API_KEY_PEPPER, Servers, Stack
from xobito.devstack import free_port

DEV_KEY = "xo_development-key-for-the-gateway-tests-0000000"
UNPEPPERED_KEY = "xo_a-key-stored-as-its-bare-sha256-00000000000"


def store_unpeppered(servers: Servers) -> None:
    """What the gateway stored before API keys were peppered."""
    with psycopg.connect(servers.postgres.url) as conn:
        conn.execute(
            "INSERT INTO gateway.workspaces (id) VALUES ('gw-old')"
            " ON CONFLICT DO NOTHING"
        )
        conn.execute(
            "INSERT INTO gateway.api_keys (workspace_id, key_digest, key_prefix)"
            " VALUES ('gw-old', %s, 'xo_a-key-s')",
            [hashlib.sha256(UNPEPPERED_KEY.encode()).digest()],
        )


@pytest.fixture(scope="module")
def lonely_gateway(servers: Servers) -> Iterator[Stack]:
    """A gateway whose metrics, contacts and Redis never answer."""
    store_unpeppered(servers)
    nobody = f"127.0.0.1:{free_port()}"
    stack = Stack(
        servers,
        extra_env={
            "METRICS_TARGET": nobody,
            "CONTACTS_TARGET": nobody,
            "REDIS_URL": f"redis://{nobody}/0",
            "DEV_API_KEY": DEV_KEY,
            # Queries wait for a service that is down until their deadline.
            "GRPC_TIMEOUT_SECONDS": "1",
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
            [digest(DEV_KEY, API_KEY_PEPPER)],
        ).fetchone()

    assert row == ("dev",)


def test_a_key_stored_before_the_pepper_still_opens_its_workspace(
    lonely_gateway: Stack,
) -> None:
    reply = httpx.post(
        f"{lonely_gateway.gateway_url}/graphql",
        json={"query": "{ campaigns { totalCount } }"},
        headers={"Authorization": f"Bearer {UNPEPPERED_KEY}"},
    )

    assert reply.status_code == 200


def test_the_gateway_peppers_digests_stored_before_the_pepper(
    lonely_gateway: Stack,
) -> None:
    with psycopg.connect(lonely_gateway.servers.postgres.url) as conn:
        unpeppered = conn.execute(
            "SELECT count(*) FROM gateway.api_keys WHERE NOT peppered"
        ).fetchone()
        row = conn.execute(
            "SELECT workspace_id FROM gateway.api_keys WHERE key_digest = %s",
            [digest(UNPEPPERED_KEY, API_KEY_PEPPER)],
        ).fetchone()

    assert unpeppered == (0,)
    assert row == ("gw-old",)


def test_requests_pass_uncounted_while_redis_does_not_answer(
    lonely_gateway: Stack,
) -> None:
    replies = [
        httpx.post(
            f"{lonely_gateway.gateway_url}/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {DEV_KEY}"},
        )
        for _ in range(3)
    ]

    assert [reply.status_code for reply in replies] == [200, 200, 200]
    assert "rate limit not checked" in lonely_gateway.log_path("gateway").read_text()
