"""The live recipient table: which rows changed, for whoever watches.

After a write commits, publish() names the changed recipients on each
campaign's Redis channel, ids only. A watcher re-reads the named rows,
so it always shows the committed state whatever order the messages
come in. Publishing is best effort, unlike the counters' outbox: a
change lost with Redis shows at the row's next change, or on reload.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Collection, Mapping
from typing import Any

import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from services.metrics import store
from services.metrics.campaigns import in_workspace
from services.metrics.ledger import Conn, Pool, state_of
from services.metrics.recipients import RecipientView
from services.metrics.statuses import Status

log = structlog.get_logger(__name__)

# Ids read back per query; a watcher that fell behind catches up in
# steps of this size.
READ_BATCH = 1000


def channel(campaign_id: str) -> str:
    return f"metrics:recipients:{campaign_id}"


class RecipientFeed:
    """Publishes changed recipients and streams them to watchers."""

    def __init__(self, pool: Pool, client: Redis) -> None:
        self._pool = pool
        self._redis = client

    async def publish(self, changed: Mapping[str, Collection[int]]) -> None:
        """Name each campaign's changed recipients, in one round trip."""
        if not any(changed.values()):
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for campaign_id, ids in sorted(changed.items()):
                    if ids:
                        pipe.publish(channel(campaign_id), json.dumps(sorted(ids)))
                await pipe.execute()
        except (redis_errors.RedisError, OSError) as exc:
            log.warning("recipient changes not published", error=repr(exc))

    async def watch(
        self, workspace_id: str, campaign_id: str, status: Status | None
    ) -> AsyncGenerator[list[RecipientView], None]:
        """The recipients that change from now on, with that status."""
        async with self._pool.connection() as conn:
            await in_workspace(conn, workspace_id, campaign_id)

        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(channel(campaign_id))
            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                ids = set(json.loads(message["data"]))
                # Batches published meanwhile are read in the same query.
                while len(ids) < READ_BATCH:
                    more = await pubsub.get_message(timeout=0)
                    if more is None:
                        break
                    if more["type"] == "message":
                        ids.update(json.loads(more["data"]))
                views = await self._read(workspace_id, campaign_id, ids, status)
                if views:
                    yield views
        finally:
            await pubsub.aclose()

    async def _read(
        self,
        workspace_id: str,
        campaign_id: str,
        ids: Collection[int],
        status: Status | None,
    ) -> list[RecipientView]:
        async with self._pool.connection() as conn:
            rows = await _rows(conn, campaign_id, sorted(ids), status)
            ids = [row["id"] for row in rows]
            timelines = await store.timelines(conn, workspace_id, ids)
        return [
            RecipientView(
                phone=row["phone"],
                name=row["name"],
                state=state_of(row),
                timeline=[
                    (meta_status.upper(), at)
                    for meta_status, at in timelines.get(row["id"], [])
                ],
            )
            for row in rows
        ]


async def _rows(
    conn: Conn, campaign_id: str, ids: list[int], status: Status | None
) -> list[dict[str, Any]]:
    """The campaign's rows among ids, with that status unless None."""
    level = None if status is None else int(status)
    cursor = await conn.execute(
        """
        SELECT id, phone, name, status, attempt, wamid, called_at, meta_sent_at,
               delivered_at, read_at, failed_at, failure_code, failure_title,
               failure_category, replied_at, opted_out_at
        FROM metrics.recipients
        WHERE campaign_id = %s AND id = ANY(%s::bigint[])
          AND (%s::smallint IS NULL OR status = %s::smallint)
        ORDER BY id
        """,
        [campaign_id, ids, level, level],
    )
    return list(await cursor.fetchall())
