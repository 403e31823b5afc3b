"""A load generator: signed webhook bodies posted over keep-alive connections.

Two shapes of load. post_for: a fixed number of workers, each posting
its next body as soon as the last is answered, as Meta's concurrent
deliveries do; it finds the rate the system sustains. post_at_rate:
bodies posted at a fixed rate whatever the answers, over as many
connections as that takes; it offers more than the system can take.

aiohttp rather than httpx: a tenth of the CPU per request, which on a
machine of two cores is CPU the system under test keeps.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from xobito import webhooks

# The answer counted for a request that got none (refused connection,
# reset, timeout).
NO_ANSWER = 0
TIMEOUT_SECONDS = 30


@dataclass
class LoadResult:
    seconds: float
    answers: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    latencies_ms_by_answer: dict[int, list[float]] = field(default_factory=dict)
    # Times (perf_counter) of the 200 answers, with the body's index.
    acknowledged: list[tuple[float, int]] = field(default_factory=list)
    # When the last answer came (perf_counter).
    last_answer_at: float = 0.0

    @property
    def per_second(self) -> float:
        return sum(self.answers.values()) / self.seconds


class _Poster:
    """Posts signed bodies on one session and files what came back."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        bodies: Callable[[int], bytes],
        app_secret: str,
        result: LoadResult,
    ) -> None:
        self._session = session
        self._url = url
        self._bodies = bodies
        self._app_secret = app_secret
        self._result = result

    async def post(self, index: int) -> None:
        body = self._bodies(index)
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": webhooks.sign(body, self._app_secret),
        }
        started = time.perf_counter()
        try:
            async with self._session.post(
                self._url, data=body, headers=headers
            ) as reply:
                await reply.read()
                status = reply.status
        except (aiohttp.ClientError, TimeoutError):
            status = NO_ANSWER
        answered = time.perf_counter()

        result = self._result
        result.answers[status] += 1
        latency_ms = (answered - started) * 1000
        result.latencies_ms.append(latency_ms)
        result.latencies_ms_by_answer.setdefault(status, []).append(latency_ms)
        result.last_answer_at = answered
        if status == 200:
            result.acknowledged.append((answered, index))


def _session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
    )


async def post_for_async(
    url: str,
    bodies: Callable[[int], bytes],
    app_secret: str,
    *,
    workers: int,
    seconds: float,
    limit: int | None,
) -> LoadResult:
    """Post bodies(0), bodies(1), ... from `workers` workers for `seconds`."""
    result = LoadResult(seconds=seconds)
    deadline = time.perf_counter() + seconds
    next_index = 0

    async with _session(workers) as session:
        poster = _Poster(session, url, bodies, app_secret, result)

        async def worker() -> None:
            nonlocal next_index
            while time.perf_counter() < deadline:
                if limit is not None and next_index >= limit:
                    return
                index, next_index = next_index, next_index + 1
                await poster.post(index)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        result.seconds = time.perf_counter() - started
    return result


async def post_at_rate_async(
    url: str,
    bodies: Callable[[int], bytes],
    app_secret: str,
    *,
    rate: float,
    seconds: float,
    connections: int,
    first: int = 0,
) -> LoadResult:
    """Post bodies(first), ... at `rate` a second for `seconds`.

    Every body is posted when its time comes, answered or not; result.
    seconds is how long the posting went on, and result.last_answer_at
    says when the last answer came.
    """
    result = LoadResult(seconds=seconds)
    tick = 0.01

    async with _session(connections) as session:
        poster = _Poster(session, url, bodies, app_secret, result)
        posting: set[asyncio.Task[None]] = set()
        started = time.perf_counter()
        sent = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(elapsed * rate) + 1
            for index in range(first + sent, first + due):
                task = asyncio.create_task(poster.post(index))
                posting.add(task)
                task.add_done_callback(posting.discard)
            sent = max(sent, due)
            await asyncio.sleep(tick)
        result.seconds = time.perf_counter() - started
        await asyncio.gather(*posting)
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
