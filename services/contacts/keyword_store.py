"""PostgreSQL storage of each workspace's own stop and start keywords."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from services.contacts import keywords
from services.contacts.keywords import Keywords

Row = dict[str, Any]


class KeywordStore:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def get(self, workspace_id: str) -> Keywords:
        async with self._pool.connection() as conn:
            found = await keywords_of(conn, {workspace_id})
        return found.get(workspace_id, keywords.NONE)

    async def replace(self, workspace_id: str, own: Keywords) -> None:
        """Replace the workspace's keywords."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO contacts.keywords"
                " (workspace_id, stop_keywords, start_keywords)"
                " VALUES (%s, %s, %s) ON CONFLICT (workspace_id) DO UPDATE SET"
                " stop_keywords = excluded.stop_keywords,"
                " start_keywords = excluded.start_keywords, updated_at = now()",
                [workspace_id, list(own.stop), list(own.start)],
            )


async def keywords_of(
    conn: AsyncConnection[Row], workspace_ids: set[str]
) -> dict[str, Keywords]:
    """The keywords of those workspaces that have their own."""
    if not workspace_ids:
        return {}
    cursor = await conn.execute(
        "SELECT workspace_id, stop_keywords, start_keywords"
        " FROM contacts.keywords WHERE workspace_id = ANY(%s)",
        [list(workspace_ids)],
    )
    return {
        row["workspace_id"]: Keywords(
            tuple(row["stop_keywords"]), tuple(row["start_keywords"])
        )
        for row in await cursor.fetchall()
    }
