"""PostgreSQL: the connection pool and the schema migrations.

Migrations are the ordered SQL files of xobito/migrations, applied by
yoyo-migrations, which records each one in the database and holds a lock
so that processes starting together apply them once.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).parent / "migrations"

log = structlog.get_logger(__name__)


def _yoyo_url(database_url: str) -> str:
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgres", "postgresql"}:
        raise ValueError("DATABASE_URL must start with postgresql://")
    return f"postgresql+psycopg://{rest}"


def migrate(database_url: str) -> int:
    """Apply the migrations not applied yet; return how many were applied."""
    backend = get_backend(_yoyo_url(database_url))
    migrations = read_migrations(str(MIGRATIONS))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    backend.connection.close()
    if pending:
        log.info("migrations applied", count=len(pending))
    return len(pending)


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
        open=False,
    )
    await pool.open(wait=True, timeout=60)
    return pool
