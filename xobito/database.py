"""PostgreSQL: the connection pool and the schema migrations.

Migrations are the SQL files of xobito/migrations, applied in the order
of their names, each in its own transaction, and recorded in the table
public.schema_migrations. An advisory lock makes processes that start
together apply them one after the other, so each is applied once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.array import ListBinaryDumper
from psycopg_pool import AsyncConnectionPool

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number, the same in every process: it names the lock.
_MIGRATION_LOCK = 7_306_571_228_915

log = structlog.get_logger(__name__)


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS.glob("*.sql"))


def migrate(database_url: str) -> int:
    """Apply the migrations not applied yet; return how many were applied."""
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

    Waits up to a minute for the server, so that a service can start
    before its database is ready.
    """
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
