"""Retrying failed recipients: which may be retried, the queue, hand-out.

The campaign page queues failed recipients whose failure a later send
may overcome (per xobito.failures); the campaign sender watches the
queue and sends again. A retry names the failed send (the recipient's
attempt) it is for, so asking twice queues nobody twice, while a retry
that fails in turn may be queued again. The sender's new send starts
the recipient's next attempt (see recording). Queuing publishes on the workspace's Redis
channel to wake the watchers; they also look every few seconds, so a
lost message only delays a retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from services.metrics import retry_store
from services.metrics.campaigns import in_workspace
from services.metrics.ledger import Conn, Pool, transact
from services.metrics.retry_store import FailedRecipient, RetryRow
from xobito import failures
from xobito.errors import InvalidArgumentError
from xobito.failures import FailureCategory

log = structlog.get_logger(__name__)

_CATEGORIES = frozenset(category.value for category in FailureCategory)
# Retries handed out per transaction, and the longest a watcher sleeps
# without a wake-up.
CLAIM_BATCH = 100
POLL_S = 5.0


def channel(workspace_id: str) -> str:
    """The Redis channel that says the workspace has new retries."""
    return f"retries:{workspace_id}"


@dataclass(frozen=True, slots=True)
class Candidates:
    phones: list[str]
    not_retryable: int
    already_queued: int


@dataclass(frozen=True, slots=True)
class Queued:
    queued: int
    already_queued: int
    not_retryable: int


def _retryable(recipient: FailedRecipient) -> bool:
    info = failures.lookup(recipient.failure_code, recipient.failure_title)
    return info.retryable


def _checked(categories: Sequence[str]) -> list[str]:
    unknown = sorted(set(categories) - _CATEGORIES)
    if unknown:
        raise InvalidArgumentError(f"unknown failure categories {unknown}")
    return list(categories)


class Retries:
    def __init__(self, pool: Pool, redis: Redis) -> None:
        self._pool = pool
        self._redis = redis

    async def candidates(
        self, workspace_id: str, campaign_id: str, categories: Sequence[str]
    ) -> Candidates:
        """Failed recipients a retry may help and not yet queued for it."""
        wanted = _checked(categories)
        async with self._pool.connection() as conn:
            await in_workspace(conn, workspace_id, campaign_id)
            failed = await retry_store.failed_recipients(conn, campaign_id, wanted)

        phones, not_retryable, already_queued = [], 0, 0
        for recipient in failed:
            if not _retryable(recipient):
                not_retryable += 1
            elif recipient.queued:
                already_queued += 1
            else:
                phones.append(recipient.phone)
        return Candidates(phones, not_retryable, already_queued)

    async def queue(
        self,
        workspace_id: str,
        campaign_id: str,
        categories: Sequence[str],
        phones: Sequence[str],
    ) -> Queued:
        """Queue the phones' failed attempts, in one transaction.

        Each phone is checked again under a row lock: a status that came
        since the candidates were listed may have ended its failure.
        """
        wanted = _checked(categories)
        unique = sorted(set(phones))

        async def work(conn: Conn) -> Queued:
            await in_workspace(conn, workspace_id, campaign_id)
            failed = await retry_store.failed_recipients(
                conn, campaign_id, wanted, unique
            )
            due = [r for r in failed if _retryable(r) and not r.queued]
            queued = await retry_store.insert_retries(
                conn, workspace_id, campaign_id, due
            )
            # Rows another call queued meanwhile conflict and count here.
            already = sum(r.queued for r in failed) + len(due) - queued
            return Queued(queued, already, len(unique) - len(due) - already)

        result = await transact(self._pool, work)
        if result.queued:
            await self._redis.publish(channel(workspace_id), str(result.queued))
        log.info(
            "retries queued",
            campaign_id=campaign_id,
            queued=result.queued,
            already_queued=result.already_queued,
            not_retryable=result.not_retryable,
        )
        return result

    async def watch(
        self, workspace_id: str, campaign_id: str = ""
    ) -> AsyncGenerator[RetryRow, None]:
        """Retries waiting now, then each as it is queued; each once.

        A retry is handed out once yielded; the rest of its batch is put
        back when the stream ends first.
        """
        if not workspace_id:
            raise InvalidArgumentError("workspace_id is required")
        if campaign_id:
            async with self._pool.connection() as conn:
                await in_workspace(conn, workspace_id, campaign_id)

        pubsub = self._redis.pubsub()
        try:
            # Subscribed before the first claim, so no wake-up falls
            # between.
            await pubsub.subscribe(channel(workspace_id))
            while True:
                batch = await self._claim(workspace_id, campaign_id)
                if not batch:
                    await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=POLL_S
                    )
                    continue
                await self._drain_wakeups(pubsub)
                for index, row in enumerate(batch):
                    try:
                        yield row
                    except BaseException:
                        await self._release(batch[index + 1 :])
                        raise
        finally:
            await pubsub.aclose()

    async def _claim(self, workspace_id: str, campaign_id: str) -> list[RetryRow]:
        async with self._pool.connection() as conn, conn.transaction():
            return await retry_store.claim(conn, workspace_id, campaign_id, CLAIM_BATCH)

    async def _drain_wakeups(self, pubsub: PubSub) -> None:
        """Drop wake-ups the claim just served; the next claim sees all."""
        while await pubsub.get_message(ignore_subscribe_messages=True, timeout=0):
            pass

    async def _release(self, rows: Sequence[RetryRow]) -> None:
        if not rows:
            return
        try:
            # Shielded: the stream ends because its call was cancelled.
            await asyncio.shield(self._release_now([row.id for row in rows]))
        except Exception:
            log.warning("retries not put back", count=len(rows), exc_info=True)

    async def _release_now(self, retry_ids: list[int]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await retry_store.release(conn, retry_ids)
