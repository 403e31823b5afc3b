"""A load generator: signed webhook bodies posted as fast as they are taken.

Several asyncio workers, each on its own keep-alive connection (httpx),
post prepared bodies for a fixed time and keep the latency of every
answer, as Meta's many concurrent deliveries would.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from xobito import webhooks


@dataclass
class LoadResult:
    seconds: float
    answers: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    # Times (perf_counter) of the 200 answers, with the body's index.
    acknowledged: list[tuple[float, int]] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return sum(self.answers.values()) / self.seconds


async def post_for_async(
    url: str,
    bodies: Callable[[int], bytes],
    app_secret: str,
    *,
    workers: int,
    seconds: float,
    limit: int | None,
) -> LoadResult:
    result = LoadResult(seconds=seconds)
    deadline = time.perf_counter() + seconds
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            while time.perf_counter() < deadline:
                if limit is not None and next_index >= limit:
                    return
                index, next_index = next_index, next_index + 1
                body = bodies(index)
                headers = {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": webhooks.sign(body, app_secret),
                }
                started = time.perf_counter()
                reply = await client.post(url, content=body, headers=headers)
                answered = time.perf_counter()
                result.answers[reply.status_code] += 1
                result.latencies_ms.append((answered - started) * 1000)
                if reply.status_code == 200:
                    result.acknowledged.append((answered, index))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    result.seconds = time.perf_counter() - started
    return result


def post_for(
    url: str,
    bodies: Callable[[int], bytes],
    app_secret: str,
    *,
    workers: int = 16,
    seconds: float = 20.0,
    limit: int | None = None,
) -> LoadResult:
    """Post bodies(0), bodies(1), ... to url for `seconds`; what came back."""
    return asyncio.run(
        post_for_async(
            url, bodies, app_secret, workers=workers, seconds=seconds, limit=limit
        )
    )
