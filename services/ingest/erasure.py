"""Erasing a number from what ingest keeps: unroutable events, dead letters.

Neither table belongs to a workspace (no workspace could be found for
the one, the other may be unreadable), so a number is erased from them
whichever workspace asks: every row whose JSON quotes it is deleted.
Meta writes numbers as digits, with or without a `+`, so searching the
digits finds both.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

_DELETES = [
    "DELETE FROM ingest.unroutable_events WHERE payload::text LIKE %s",
    "DELETE FROM ingest.dead_letters WHERE element::text LIKE %s",
]


class IngestErasure:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def erase(self, phone: str) -> int:
        """Delete the rows that quote a normalized number; return how many."""
        pattern = f"%{phone}%"  # digits only: nothing to escape
        erased = 0
        async with self._pool.connection() as conn, conn.transaction():
            for statement in _DELETES:
                erased += (await conn.execute(statement, [pattern])).rowcount
        return erased
