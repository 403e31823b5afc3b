"""The test stack's own tools: a clean slate is empty and starts afresh."""

from __future__ import annotations

import psycopg
import pytest
import redis

from tests.stack import Servers, reset_data

CAMPAIGN = (
    "INSERT INTO metrics.campaigns (id, workspace_id, name, phone_number_id,"
    " template_name) VALUES ('cmp_reset', 'reset', 'Reset', '1', 'tpl')"
)
RECIPIENT = (
    "INSERT INTO metrics.recipients (campaign_id, phone)"
    " VALUES ('cmp_reset', %s) RETURNING id"
)


def test_reset_data_empties_the_tables_redis_and_restarts_ids(
    servers: Servers,
) -> None:
    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        conn.execute(CAMPAIGN)
        conn.execute(RECIPIENT, ["15550001"])
        conn.execute(RECIPIENT, ["15550002"])
    with redis.Redis.from_url(servers.valkey.url) as client:
        client.set("counters", 1)

    reset_data(servers)

    with psycopg.connect(servers.postgres.url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM metrics.campaigns").fetchone()
        conn.execute(CAMPAIGN)
        again = conn.execute(RECIPIENT, ["15550001"]).fetchone()
    with redis.Redis.from_url(servers.valkey.url) as client:
        keys = client.dbsize()
    assert (left, again, keys) == ((0,), (1,), 0)
    reset_data(servers)


def test_reset_data_leaves_foreign_keys_checked(servers: Servers) -> None:
    reset_data(servers)

    with (
        psycopg.connect(servers.postgres.url) as conn,
        pytest.raises(psycopg.errors.ForeignKeyViolation),
    ):
        conn.execute(RECIPIENT, ["15550001"])
