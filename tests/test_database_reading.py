"""Reads go to PostgreSQL without a transaction around them."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import cast

from psycopg.errors import DivisionByZero
from psycopg.pq import TransactionStatus

from services.metrics.ledger import Pool
from tests.stack import Servers
from xobito.database import open_pool, reading


def test_a_read_runs_outside_a_transaction_and_gives_the_connection_back_as_it_was(
    servers: Servers,
) -> None:
    async def main() -> tuple[TransactionStatus, bool, TransactionStatus]:
        pool = cast(Pool, await open_pool(servers.postgres.url, min_size=1, max_size=1))
        try:
            async with reading(pool) as conn:
                await conn.execute("SELECT 1")
                during = conn.info.transaction_status
            async with pool.connection() as conn:
                autocommit = conn.autocommit
                await conn.execute("SELECT 1")
                writing = conn.info.transaction_status
                await conn.rollback()
            return during, autocommit, writing
        finally:
            await pool.close()

    during, autocommit, writing = asyncio.run(main())

    assert during is TransactionStatus.IDLE
    assert autocommit is False
    assert writing is TransactionStatus.INTRANS


def test_a_failed_read_gives_the_connection_back_as_it_was(servers: Servers) -> None:
    async def main() -> bool:
        pool = cast(Pool, await open_pool(servers.postgres.url, min_size=1, max_size=1))
        try:
            with suppress(DivisionByZero):
                async with reading(pool) as conn:
                    await conn.execute("SELECT 1 / 0")
            async with pool.connection() as conn:
                return conn.autocommit
        finally:
            await pool.close()

    assert asyncio.run(main()) is False
