"""Keys are stored peppered, rotate with a grace period, and a revoked
key stops working at once, open subscriptions included."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import psycopg
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.apikeys import digest, revoke_key, rotate_key
from tests.gateway.fakes import FakeServices, counters_of
from tests.gateway.support import COUNTERS, ask, make_key
from tests.gateway.test_subscriptions import wait_until
from tests.gateway.wsclient import socket
from tests.stack import API_KEY_PEPPER, Servers, Stack

WORKSPACE = "gw-keys"
QUERY = "{ campaigns { totalCount } }"
# Long enough never to end during a test.
HOUR = timedelta(hours=1)


def key_id(conn: psycopg.Connection, key: str) -> int:
    row = conn.execute(
        "SELECT id FROM gateway.api_keys WHERE key_digest = %s",
        [digest(key, API_KEY_PEPPER)],
    ).fetchone()
    assert row is not None
    return int(row[0])


def answers(stack: Stack, key: str) -> bool:
    reply = stack.http.post(
        f"{stack.gateway_url}/graphql",
        json={"query": QUERY},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply.status_code in {200, 401}, reply.text
    return reply.status_code == 200


def test_a_key_is_stored_as_its_peppered_digest_only(servers: Servers) -> None:
    key = make_key(servers, WORKSPACE)
    bare = hashlib.sha256(key.encode()).digest()

    with psycopg.connect(servers.postgres.url) as conn:
        stored, peppered = conn.execute(
            "SELECT key_digest, peppered FROM gateway.api_keys WHERE key_prefix = %s",
            [key[:10]],
        ).fetchone() or (None, None)

    assert peppered is True
    assert bytes(stored) == hmac.digest(API_KEY_PEPPER.encode(), bare, "sha256")
    assert bytes(stored) != bare


def test_a_revoked_key_is_refused_at_once(gateway: Stack, servers: Servers) -> None:
    key = make_key(servers, WORKSPACE)
    assert answers(gateway, key)

    with psycopg.connect(servers.postgres.url) as conn:
        revoke_key(conn, key_id(conn, key))

    assert not answers(gateway, key)


def test_rotation_without_grace_refuses_the_old_key_at_once(
    gateway: Stack, servers: Servers
) -> None:
    old = make_key(servers, WORKSPACE)

    with psycopg.connect(servers.postgres.url) as conn:
        new = rotate_key(conn, key_id(conn, old), API_KEY_PEPPER, timedelta(0))

    assert not answers(gateway, old)
    assert answers(gateway, new.key)


def test_a_rotated_key_works_through_its_grace_period(
    gateway: Stack, servers: Servers
) -> None:
    old = make_key(servers, WORKSPACE)

    with psycopg.connect(servers.postgres.url) as conn:
        new = rotate_key(conn, key_id(conn, old), API_KEY_PEPPER, HOUR)

    assert answers(gateway, old)
    assert answers(gateway, new.key)
    assert ask(gateway, new.key, QUERY) == ask(gateway, old, QUERY)


def test_revoking_a_key_in_its_grace_period_refuses_it_at_once(
    gateway: Stack, servers: Servers
) -> None:
    old = make_key(servers, WORKSPACE)
    with psycopg.connect(servers.postgres.url) as conn:
        old_id = key_id(conn, old)
        new = rotate_key(conn, old_id, API_KEY_PEPPER, HOUR)

        revoked = revoke_key(conn, old_id)

    assert revoked
    assert not answers(gateway, old)
    assert answers(gateway, new.key)


def test_an_open_subscription_ends_when_its_key_is_revoked(
    gateway: Stack, servers: Servers, fakes: FakeServices
) -> None:
    key = make_key(servers, WORKSPACE)
    fakes.metrics.add_campaign(
        "cmp_keys_revoked", workspace=WORKSPACE, recipient_total=1
    )

    with socket(gateway.gateway_url) as ws:
        ws.init(key)
        ws.subscribe(COUNTERS, id="cmp_keys_revoked")
        assert ws.receive()["type"] == "next"

        with psycopg.connect(servers.postgres.url) as conn:
            revoke_key(conn, key_id(conn, key))
        with pytest.raises(ConnectionClosed) as closed:
            ws.receive(timeout=15)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    wait_until(lambda: fakes.metrics.watching["cmp_keys_revoked"] == 0)


def test_an_open_subscription_ends_when_its_grace_period_does(
    gateway: Stack, servers: Servers, fakes: FakeServices
) -> None:
    key = make_key(servers, WORKSPACE)
    fakes.metrics.add_campaign(
        "cmp_keys_rotated", workspace=WORKSPACE, recipient_total=1
    )

    with socket(gateway.gateway_url) as ws:
        ws.init(key)
        ws.subscribe(COUNTERS, id="cmp_keys_rotated")
        assert ws.receive()["type"] == "next"

        with psycopg.connect(servers.postgres.url) as conn:
            rotate_key(conn, key_id(conn, key), API_KEY_PEPPER, timedelta(seconds=2))
        with pytest.raises(ConnectionClosed) as closed:
            ws.receive(timeout=15)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


def test_revoking_one_key_leaves_the_sockets_of_others_open(
    gateway: Stack, servers: Servers, fakes: FakeServices
) -> None:
    kept, revoked = make_key(servers, WORKSPACE), make_key(servers, WORKSPACE)
    campaign = fakes.metrics.add_campaign(
        "cmp_keys_kept", workspace=WORKSPACE, recipient_total=1
    )

    with socket(gateway.gateway_url) as ws, socket(gateway.gateway_url) as gone:
        for sock, key in ((ws, kept), (gone, revoked)):
            sock.init(key)
            sock.subscribe(COUNTERS, id="cmp_keys_kept")
            assert sock.receive()["type"] == "next"
        with psycopg.connect(servers.postgres.url) as conn:
            revoke_key(conn, key_id(conn, revoked))
        with pytest.raises(ConnectionClosed):
            gone.receive(timeout=15)

        change = counters_of(campaign)
        change.counters.sent = 1
        fakes.metrics.push("cmp_keys_kept", change)
        message = ws.receive()

    assert message["payload"]["data"]["campaignCounters"]["sent"] == 1


def test_a_rotation_keeps_the_new_key_out_of_its_repr(servers: Servers) -> None:
    old = make_key(servers, WORKSPACE)

    with psycopg.connect(servers.postgres.url) as conn:
        rotation = rotate_key(conn, key_id(conn, old), API_KEY_PEPPER, HOUR)

    assert rotation.key not in repr(rotation)
