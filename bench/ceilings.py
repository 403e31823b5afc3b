"""What this machine allows, measured on the same servers in the same run.

The rate of batched upserts of recipients' rows in PostgreSQL (the best
of three ways psycopg can send them, into a table made like the
recipients' table, indexes and all), of pipelined hash increments
in Redis, and of POSTs to a Starlette endpoint that does nothing: the
ceilings the system's own figures are compared with.

Each ceiling's CPU time per row or per POST is measured too, split by
process: on a machine whose cores every process shares, a rate is
what the cores allow, and these are the budgets that decide it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import psycopg
import redis

from bench.cpu import CpuMeter, server, this_process
from bench.ingest import WORKERS, webhook_bodies
from bench.loadgen import post_for
from tests.stack import APP_SECRET, Stack
from xobito.devstack import free_port

ROWS = 200_000
BATCH = 1_000
NOW = datetime(2026, 3, 2, tzinfo=UTC)


Way = dict[str, Any]


def _upsert_rates(url: str, postgres: psutil.Process) -> dict[str, Way]:
    """Rows per second of each way to upsert batches, one commit a batch,
    and the CPU time per row of the server and of this client.

    The rows are recipients' rows: a logged table made like
    metrics.recipients, with its indexes, whose status and delivery time
    each batch changes, as delivered statuses do.
    """
    ways = {}
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
            ways.update(_each_way(conn, batches, postgres))
        finally:
            conn.execute("DROP SCHEMA ceiling CASCADE")
            conn.commit()
    return ways


def _each_way(
    conn: psycopg.Connection[Any], batches: list[list[int]], postgres: psutil.Process
) -> dict[str, Way]:
    ways = {}

    def measured() -> tuple[float, CpuMeter]:
        return time.perf_counter(), CpuMeter(
            {"postgres": postgres, "client": this_process()}
        )

    def way(started: float, cpu: CpuMeter) -> Way:
        return {
            "rows_per_s": ROWS / (time.perf_counter() - started),
            "cpu_ms_per_1k_rows": cpu.ms_per(ROWS // 1000),
        }

    started, cpu = measured()
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
    ways["unnest"] = way(started, cpu)

    started, cpu = measured()
    for ids in batches:
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE ceiling.recipients SET status = 5, read_at = %s WHERE id = %s",
                [(NOW, i) for i in ids],
            )
        conn.commit()
    ways["executemany_pipeline"] = way(started, cpu)

    conn.execute("CREATE TEMP TABLE ceiling_stage (id bigint, status smallint)")
    started, cpu = measured()
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
    ways["copy_staging"] = way(started, cpu)
    return ways


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


def _bare_http(bodies: list[bytes]) -> dict[str, Any]:
    """POSTs per second to a server that only answers 200, and the CPU
    time per POST of that server and of the load generator."""
    port = free_port()
    process = subprocess.Popen(
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
        cpu = CpuMeter(
            {"server": psutil.Process(process.pid), "loadgen": this_process()}
        )
        result = post_for(
            f"http://127.0.0.1:{port}/webhooks/whatsapp",
            lambda i: bodies[i % len(bodies)],
            APP_SECRET,
            workers=WORKERS,
            seconds=10.0,
        )
        return {
            "posts_per_s": result.answers[200] / result.seconds,
            "cpu_ms_per_post": cpu.ms_per(sum(result.answers.values())),
        }
    finally:
        process.terminate()
        process.wait()


def measure(stack: Stack, **_: Any) -> dict[str, Any]:
    postgres = server(stack, "postgres")
    ways = _upsert_rates(stack.servers.postgres.url, postgres)
    best = max(ways, key=lambda name: ways[name]["rows_per_s"])
    bare = _bare_http(webhook_bodies(20_000))
    return {
        "ceiling": {
            "pg_upsert_rows_per_s": round(ways[best]["rows_per_s"]),
            "pg_upsert_by_way": {k: round(w["rows_per_s"]) for k, w in ways.items()},
            "pg_upsert_cpu_ms_per_1k_rows": ways[best]["cpu_ms_per_1k_rows"],
            "redis_ops_per_s": round(_redis_rate(stack.servers.valkey.url)),
            "bare_http_posts_per_s": round(bare["posts_per_s"], 1),
            "bare_http_cpu_ms_per_post": bare["cpu_ms_per_post"],
        }
    }
