"""PostgreSQL: the connection pool and the schema migrations.

Migrations are the SQL files of xobito/migrations, applied in the order
of their names, each in its own transaction, and recorded in the table
public.schema_migrations. An advisory lock makes processes that start
together apply them one after the other, so each is applied once.

A server that is starting up, recovering after an unclean stop or not
listening yet is waited for, with backoff, before migrating or pooling.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import structlog
import tenacity
from psycopg.rows import dict_row
from psycopg.types.array import ListBinaryDumper
from psycopg_pool import AsyncConnectionPool

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number, the same in every process: it names the lock.
_MIGRATION_LOCK = 7_306_571_228_915

log = structlog.get_logger(__name__)

# Recovery after an unclean stop may replay a lot of WAL: wait that long.
READY_TIMEOUT_SECONDS = 900.0
# What a server says while it starts, recovers or stops: SQLSTATE
# cannot_connect_now, and before it listens, a refused connection.
_NOT_READY_SQLSTATE = "57P03"
_NOT_READY_MESSAGES = (
    "the database system is",
    "connection refused",
)


def is_not_ready(error: BaseException) -> bool:
    """Whether a connection failed because the server is not ready yet."""
    if not isinstance(error, psycopg.OperationalError):
        return False
    if error.sqlstate == _NOT_READY_SQLSTATE:
        return True
    text = str(error).lower()
    return any(message in text for message in _NOT_READY_MESSAGES)


def _log_not_ready(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "waiting for PostgreSQL to accept connections",
        attempt=state.attempt_number,
        reason=str(error).strip().splitlines()[-1] if error else None,
    )


_until_ready = tenacity.retry(
    retry=tenacity.retry_if_exception(is_not_ready),
    wait=tenacity.wait_exponential(multiplier=0.1, max=2),
    stop=tenacity.stop_after_delay(READY_TIMEOUT_SECONDS),
    before_sleep=_log_not_ready,
    reraise=True,
)


@_until_ready
def wait_until_ready(database_url: str) -> None:
    """Return once the server accepts connections."""
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        conn.execute("SELECT 1")


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS.glob("*.sql"))


@_until_ready
def migrate(database_url: str) -> int:
    """Apply the migrations not applied yet; return how many were applied.

    A server not ready yet is waited for, and one that goes away while
    starting up is tried again: each migration is its own transaction.
    """
    applied = 0
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_MIGRATION_LOCK])
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                " version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {
                version
                for (version,) in conn.execute(
                    "SELECT version FROM public.schema_migrations"
                )
            }
            for path in migration_files():
                if path.stem in done:
                    continue
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute(
                        "INSERT INTO public.schema_migrations (version) VALUES (%s)",
                        [path.stem],
                    )
                log.info("migration applied", version=path.stem)
                applied += 1
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [_MIGRATION_LOCK])
    return applied


async def open_pool(
    database_url: str, *, min_size: int = 2, max_size: int = 10
) -> AsyncConnectionPool:
    """Open a pool of connections whose rows come back as dicts.

    Waits for the server to accept connections first, so that a service
    can start before its database is ready or while it recovers.
    """
    await asyncio.to_thread(wait_until_ready, database_url)
    pool = AsyncConnectionPool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "autocommit": False},
        configure=_binary_lists,
        open=False,
    )
    await pool.open(wait=True, timeout=60)
    return pool


Connection = TypeVar("Connection", bound=psycopg.AsyncConnection[Any])


@asynccontextmanager
async def reading(pool: AsyncConnectionPool[Connection]) -> AsyncIterator[Connection]:
    """A connection of the pool for reads alone, in autocommit.

    Its statements need no BEGIN and COMMIT round trips around them; each
    reads its own snapshot, as it would in a READ COMMITTED transaction.
    The connection goes back to the pool out of autocommit, as writers
    expect it.
    """
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            if not conn.closed:
                await conn.set_autocommit(False)


async def _binary_lists(conn: psycopg.AsyncConnection[Any]) -> None:
    """Send lists in PostgreSQL's binary format.

    The text format quotes every element of an array in Python: five
    times the CPU for the column arrays that batched writes unnest.
    """
    conn.adapters.register_dumper(list, ListBinaryDumper)
