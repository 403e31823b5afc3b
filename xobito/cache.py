"""The Redis-protocol server that holds live counters and pub/sub."""

from __future__ import annotations

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError


def connect(redis_url: str) -> redis.Redis:
    """A client that retries connection failures with backoff."""
    return redis.Redis.from_url(
        redis_url,
        decode_responses=True,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=5),
        retry_on_error=[BusyLoadingError, ConnectionError, TimeoutError],
    )
