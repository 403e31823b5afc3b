"""Live counters in Redis, kept equal to a count over the recipient rows.

Each campaign has a hash of counts per bucket (see statuses.Bucket) plus
`replied`, `opted_out` and a `version`. Changes reach it through the
outbox: a transaction that changes recipients inserts its counter deltas
beside them; after the commit, apply() adds each outbox row to the hash
once (a marker per outbox id, set in the same script) and deletes it. A
relay re-applies what a crash left behind. A missing hash is rebuilt
from the rows. Every change is published on the campaign's channel.

Why a rebuild never counts a change twice: it counts the rows and lists
the campaign's outbox ids in one statement, so in one snapshot; an
outbox row is listed exactly when its transaction committed before the
snapshot, i.e. exactly when the count already includes its change. The
rebuild script creates the hash and sets the markers of those ids in one
atomic step, and only if the hash is still missing, so a later apply()
of a listed row finds its marker and skips it, while a row committed
after the snapshot has no marker and is applied on top of the count. A
losing concurrent rebuild writes nothing.

What this cannot see: Redis losing writes it had acknowledged (restored
from an older snapshot) with the hash still there. reconcile() finds
and repairs such drift.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg
import structlog
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from services.metrics import outbox
from services.metrics.ledger import Pool
from services.metrics.outbox import OutboxRow
from services.metrics.statuses import COUNTER_FIELDS, Tally

log = structlog.get_logger(__name__)

# Long enough to outlive any outbox row: the relay retries every few
# seconds while the service runs.
MARKER_TTL_S = 7 * 24 * 3600
VERSION = "version"

# KEYS: the counters hash, the outbox row's marker. ARGV: marker TTL,
# channel, then field and delta pairs. -1: the hash is missing, rebuild
# first; 0: applied before; 1: applied now.
_APPLY = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) then
  return 0
end
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[2], cjson.encode(redis.call('HGETALL', KEYS[1])))
return 1
"""

# KEYS: the counters hash, then the markers of the outbox rows the count
# includes. ARGV: marker TTL, channel, version, then field and value
# pairs. 0: the hash exists already (another rebuild won); 1: built.
_REBUILD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'version', ARGV[3])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1])
end
redis.call('PUBLISH', ARGV[2], cjson.encode(redis.call('HGETALL', KEYS[1])))
return 1
"""

# Failures of Redis or PostgreSQL after a commit: the outbox keeps the
# change and the relay applies it later.
_STORE_ERRORS = (redis_errors.RedisError, psycopg.OperationalError, OSError)


def _hash_key(campaign_id: str) -> str:
    # The braces keep a campaign's keys in one Redis Cluster slot.
    return f"metrics:{{{campaign_id}}}:counters"


def _marker_key(campaign_id: str, outbox_id: int) -> str:
    return f"metrics:{{{campaign_id}}}:applied:{outbox_id}"


def channel(campaign_id: str) -> str:
    return f"metrics:counters:{campaign_id}"


def _counts(raw: dict[str, str]) -> dict[str, int]:
    return {field: int(value) for field, value in raw.items()}


def _published(data: str) -> dict[str, int]:
    flat = json.loads(data)
    return _counts(dict(zip(flat[::2], flat[1::2], strict=True)))


class Counters:
    """The counters of every campaign, and the outbox that feeds them."""

    def __init__(self, pool: Pool, client: Redis) -> None:
        self._pool = pool
        self._redis = client
        self._apply_script = client.register_script(_APPLY)
        self._rebuild_script = client.register_script(_REBUILD)

    # -- reading ---------------------------------------------------------

    async def tallies(self, campaign_ids: Sequence[str]) -> dict[str, Tally]:
        """The counters of existing campaigns, rebuilding missing ones."""
        raw = await self._read(campaign_ids)
        missing = [cid for cid in campaign_ids if not raw[cid]]
        for campaign_id in missing:
            await self.rebuild(campaign_id)
        if missing:
            raw.update(await self._read(missing))
        return {cid: Tally.of(_counts(raw[cid])) for cid in campaign_ids}

    async def tally(self, campaign_id: str) -> Tally:
        return (await self.tallies([campaign_id]))[campaign_id]

    async def _read(self, campaign_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for campaign_id in campaign_ids:
                pipe.hgetall(_hash_key(campaign_id))
            replies = await pipe.execute()
        return dict(zip(campaign_ids, replies, strict=True))

    # -- writing ---------------------------------------------------------

    async def apply(self, rows: Sequence[OutboxRow]) -> bool:
        """Apply committed outbox rows once each, then delete them.

        Returns False when a store failed; the rows stay for the relay.
        """
        if not rows:
            return True
        try:
            results = await self._apply_all(rows)
            missing = [row for row in rows if results[row.id] < 0]
            if missing:
                for campaign_id in sorted({row.campaign_id for row in missing}):
                    await self.rebuild(campaign_id)
                results.update(await self._apply_all(missing))
            applied = [oid for oid, result in results.items() if result >= 0]
            await self._delete(applied)
        except _STORE_ERRORS as exc:
            log.warning("counters not applied yet", error=repr(exc))
            return False
        return len(applied) == len(rows)

    async def _apply_all(self, rows: Sequence[OutboxRow]) -> dict[int, int]:
        """The script's answer for each outbox row, by outbox id."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                args: list[Any] = [MARKER_TTL_S, channel(row.campaign_id)]
                for field, delta in sorted(row.deltas.items()):
                    args += [field, delta]
                await self._apply_script(
                    keys=[
                        _hash_key(row.campaign_id),
                        _marker_key(row.campaign_id, row.id),
                    ],
                    args=args,
                    client=pipe,
                )
            answers = await pipe.execute()
        return {row.id: int(answer) for row, answer in zip(rows, answers, strict=True)}

    async def _delete(self, outbox_ids: Sequence[int]) -> None:
        if not outbox_ids:
            return
        # One statement, in autocommit: no BEGIN and COMMIT round trips.
        async with self._pool.connection() as conn:
            await conn.set_autocommit(True)
            try:
                await outbox.delete(conn, outbox_ids)
            finally:
                if not conn.closed:
                    await conn.set_autocommit(False)

    async def rebuild(self, campaign_id: str) -> None:
        """Create the campaign's hash from its rows, unless it exists."""
        async with self._pool.connection() as conn:
            snapshot = await outbox.count_campaign(conn, campaign_id)
        args: list[Any] = [
            MARKER_TTL_S,
            channel(campaign_id),
            # Above any version the hash had before it went missing, so
            # that watchers keep taking the new values.
            time.time_ns() // 1000,
        ]
        for field in COUNTER_FIELDS:
            args += [field, snapshot.counts.get(field, 0)]
        keys = [_hash_key(campaign_id)]
        keys += [_marker_key(campaign_id, oid) for oid in snapshot.outbox_ids]
        built = await self._rebuild_script(keys=keys, args=args)
        if built:
            log.info("counters rebuilt", campaign_id=campaign_id)

    # -- the relay -------------------------------------------------------

    async def relay_once(self, older_than_s: float = 1.0, limit: int = 500) -> int:
        """Apply outbox rows left behind; return how many were found."""
        found = 0
        while True:
            async with self._pool.connection() as conn:
                rows = await outbox.leftover(conn, older_than_s, limit)
            found += len(rows)
            if not rows or not await self.apply(rows) or len(rows) < limit:
                return found

    async def run_relay(self, every_s: float = 2.0) -> None:
        """Relay leftover outbox rows until cancelled."""
        while True:
            try:
                found = await self.relay_once()
                if found:
                    log.info("outbox relayed", rows=found)
            except _STORE_ERRORS as exc:
                log.warning("outbox relay failed", error=repr(exc))
            await asyncio.sleep(every_s)

    async def reconcile(
        self, campaign_id: str, *, repair: bool = False
    ) -> dict[str, int]:
        """How far Redis is from a count over the rows (Redis minus rows).

        Pending outbox rows are applied first. Writes landing while this
        runs can show as passing drift; repair rebuilds the hash.
        """
        async with self._pool.connection() as conn:
            pending = await outbox.for_campaign(conn, campaign_id)
        await self.apply(pending)
        await self.tally(campaign_id)  # rebuilds a missing hash
        async with self._pool.connection() as conn:
            snapshot = await outbox.count_campaign(conn, campaign_id)
        stored = _counts((await self._read([campaign_id]))[campaign_id])
        drift = {
            field: stored.get(field, 0) - snapshot.counts.get(field, 0)
            for field in COUNTER_FIELDS
            if stored.get(field, 0) != snapshot.counts.get(field, 0)
        }
        if drift and repair:
            await self._redis.delete(_hash_key(campaign_id))
            await self.rebuild(campaign_id)
            log.warning("counters repaired", campaign_id=campaign_id, drift=drift)
        return drift

    # -- watching --------------------------------------------------------

    async def watch(self, campaign_id: str) -> AsyncIterator[Tally]:
        """The campaign's counters now, then each time they change."""
        pubsub = self._redis.pubsub()
        try:
            # Subscribed before reading, so that no change falls between.
            await pubsub.subscribe(channel(campaign_id))
            raw = (await self._read([campaign_id]))[campaign_id]
            if not raw:
                await self.rebuild(campaign_id)
                raw = (await self._read([campaign_id]))[campaign_id]
            counts = _counts(raw)
            version = counts.get(VERSION, 0)
            yield Tally.of(counts)

            async for message in pubsub.listen():
                if message["type"] != "message":
                    continue
                counts = _published(message["data"])
                # A change published before our read may arrive after
                # it; its older version gives it away.
                if counts.get(VERSION, 0) <= version:
                    continue
                version = counts[VERSION]
                yield Tally.of(counts)
        finally:
            await pubsub.aclose()
