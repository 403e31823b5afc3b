"""What this machine allows, measured on the same servers in the same run.

The rate of batched upserts of recipients' rows in PostgreSQL (the best
of three ways psycopg can send them, into a table made like the
recipients' table, indexes and all), of pipelined hash increments
in Redis, and of POSTs to a Starlette endpoint that does nothing: the
ceilings the system's own figures are compared with.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import redis

from bench.ingest import WORKERS, webhook_bodies
from bench.loadgen import post_for
from tests.stack import APP_SECRET, Stack
from xobito.devstack import free_port

ROWS = 200_000
BATCH = 1_000
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _upsert_rates(url: str) -> dict[str, float]:
    """Rows per second of each way to upsert batches, one commit a batch.

    The rows are recipients' rows: a logged table made like
    metrics.recipients, with its indexes, whose status and delivery time
    each batch changes, as delivered statuses do.
    """
    rates = {}
    with psycopg.connect(url) as conn:
        conn.execute("DROP SCHEMA IF EXISTS ceiling CASCADE")
        conn.execute("CREATE SCHEMA ceiling")
        conn.execute(
            "CREATE TABLE ceiling.recipients (LIKE metrics.recipients INCLUDING ALL)"
        )
        conn.execute(
            "INSERT INTO ceiling.recipients"
            " (campaign_id, phone, name, name_key, status, wamid, called_at)"
            " SELECT 'cmp_ceiling', '1888' || lpad(g::text, 7, '0'),"
            " 'Name ' || g, 'name ' || g, 2, 'wamid.ceiling-' || g, %s"
            " FROM generate_series(1, %s) g",
            [NOW, ROWS],
        )
        conn.commit()
        conn.execute("ANALYZE ceiling.recipients")
        first = conn.execute("SELECT min(id) FROM ceiling.recipients").fetchone()
        assert first is not None
        batches = [
            list(range(start, start + BATCH))
            for start in range(first[0], first[0] + ROWS, BATCH)
        ]
        try:
            rates.update(_each_way(conn, batches))
        finally:
            conn.execute("DROP SCHEMA ceiling CASCADE")
            conn.commit()
    return rates


def _each_way(
    conn: psycopg.Connection[Any], batches: list[list[int]]
) -> dict[str, float]:
    rates = {}
    started = time.perf_counter()
    for ids in batches:
        conn.execute(
            "INSERT INTO ceiling.recipients AS r"
            " (id, campaign_id, phone, status, delivered_at)"
            " OVERRIDING SYSTEM VALUE"
            " SELECT i, 'cmp_ceiling', '', 3, %s FROM unnest(%s::bigint[]) i"
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
            " delivered_at = excluded.delivered_at",
            [NOW, ids],
        )
        conn.commit()
    rates["unnest"] = ROWS / (time.perf_counter() - started)

    started = time.perf_counter()
    for ids in batches:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE ceiling.recipients SET status = 5, read_at = %s WHERE id = %s",
                [(NOW, i) for i in ids],
            )
        conn.commit()
    rates["executemany_pipeline"] = ROWS / (time.perf_counter() - started)

    conn.execute("CREATE TEMP TABLE ceiling_stage (id bigint, status smallint)")
    started = time.perf_counter()
    for ids in batches:
        with conn.cursor().copy("COPY ceiling_stage (id, status) FROM STDIN") as copy:
            for i in ids:
                copy.write_row((i, 4))
        conn.execute(
            "UPDATE ceiling.recipients r SET status = s.status, delivered_at = %s"
            " FROM ceiling_stage s WHERE r.id = s.id",
            [NOW],
        )
        conn.execute("TRUNCATE ceiling_stage")
        conn.commit()
    rates["copy_staging"] = ROWS / (time.perf_counter() - started)
    return rates


def _redis_rate(url: str) -> float:
    client = redis.Redis.from_url(url)
    started = time.perf_counter()
    for start in range(0, ROWS, BATCH):
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + BATCH):
            pipe.hincrby(f"ceiling:{i % 100}", "delivered", 1)
        pipe.execute()
    rate = ROWS / (time.perf_counter() - started)
    client.close()
    return rate


def _bare_http_rate(bodies: list[bytes]) -> float:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.post(f"http://127.0.0.1:{port}/webhooks/whatsapp", content=b"{}")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        result = post_for(
            f"http://127.0.0.1:{port}/webhooks/whatsapp",
            lambda i: bodies[i % len(bodies)],
            APP_SECRET,
            workers=WORKERS,
            seconds=10.0,
        )
        return result.answers[200] / result.seconds
    finally:
        server.terminate()
        server.wait()


def measure(stack: Stack, **_: Any) -> dict[str, Any]:
    upserts = _upsert_rates(stack.servers.postgres.url)
    return {
        "ceiling": {
            "pg_upsert_rows_per_s": round(max(upserts.values())),
            "pg_upsert_by_way": {k: round(v) for k, v in upserts.items()},
            "redis_ops_per_s": round(_redis_rate(stack.servers.valkey.url)),
            "bare_http_posts_per_s": round(_bare_http_rate(webhook_bodies(20_000)), 1),
        }
    }
