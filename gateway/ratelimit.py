"""A budget of requests per API key, shared by every gateway replica.

The counts live in Redis (a moving window of `limits`), so the budget
holds however many replicas share a key's traffic. API_RATE_LIMIT is in
the notation of `limits`: "1200/minute", or several, "20/second;1200/minute".
When Redis does not answer, requests pass and a warning is logged: an
outage of the counters must not become an outage of the API.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from xobito.settings import SettingsError

log = structlog.get_logger(__name__)

KEY_PREFIX = "xobito-gateway-rate"


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0

    @property
    def message(self) -> str:
        """What a refused client is told, over HTTP or a WebSocket."""
        return f"rate limit reached, retry in {self.retry_after_s} s"


ALLOWED = Verdict(allowed=True)


class RateLimit:
    def __init__(self, redis_url: str, limit: str) -> None:
        try:
            self._items: list[RateLimitItem] = parse_many(limit)
        except ValueError:
            raise SettingsError(
                f"API_RATE_LIMIT must read like 1200/minute, got {limit!r}"
            ) from None
        storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix=KEY_PREFIX,
            wrap_exceptions=True,
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, key_id: int) -> Verdict:
        """Count one request of the key; refused once a window is full."""
        who = ("api-key", str(key_id))
        try:
            for item in self._items:
                if await self._limiter.hit(item, *who):
                    continue
                stats = await self._limiter.get_window_stats(item, *who)
                wait = math.ceil(stats.reset_time - time.time())
                return Verdict(allowed=False, retry_after_s=max(1, wait))
        except StorageError:
            log.warning("rate limit not checked: redis failed", exc_info=True)
        return ALLOWED
