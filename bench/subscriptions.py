"""1,000 live dashboards on one campaign while webhooks arrive at full speed.

SUBSCRIBERS WebSocket clients, in a process of their own so that their
work does not delay the load, each open a graphql-transport-ws socket to
the gateway, offering per-message deflate as browsers do, and subscribe
to one campaign's `campaignCounters`. The gateway's memory is measured
with them connected and idle. Then the load generator posts webhooks of
another campaign at full speed while a probe posts one read status of
the watched campaign every 100 ms; each subscriber's update latency is
the time from the probe webhook's 200 to the first update on that
socket showing it, and the gateway's CPU time per update sent to one
subscriber (the load goes to ingest: the gateway only fans out).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import grpc
import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect

from bench import ingest
from bench.loadgen import post_for_async
from bench.timing import percentile
from tests.stack import APP_SECRET, Stack
from xobito.metrics.v1 import metrics_pb2_grpc

SUBSCRIBERS = 1_000
# Sockets opened at once: a browser fleet arrives over a few seconds.
OPENING = 50
LOAD_CAMPAIGN, WATCHED_CAMPAIGN = 3, 4
LOAD_RECIPIENTS = 30_000
PROBES = 1_000
SECONDS = 10.0
IDLE_SECONDS = 3.0
PROTOCOL = "graphql-transport-ws"
QUERY = (
    "subscription Counters($id: ID!) {"
    " campaignCounters(campaignId: $id) { sent delivered read failed } }"
)

# An update as a subscriber saw it: (subscriber, perf_counter, read).
Update = tuple[int, float, int]


# -- the subscribers' process ------------------------------------------------


async def _subscribe(
    url: str, api_key: str, campaign_id: str, index: int, updates: list[Update]
) -> ClientConnection:
    socket = await connect(url, subprotocols=[PROTOCOL], open_timeout=60)  # type: ignore[list-item]
    await socket.send(
        orjson.dumps(
            {
                "type": "connection_init",
                "payload": {"Authorization": f"Bearer {api_key}"},
            }
        ).decode()
    )
    ack = orjson.loads(await socket.recv())
    if ack["type"] != "connection_ack":
        raise RuntimeError(f"subscriber {index} was not accepted: {ack}")
    await socket.send(
        orjson.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": QUERY, "variables": {"id": campaign_id}},
            }
        ).decode()
    )
    first = orjson.loads(await socket.recv())
    if first["type"] != "next":
        raise RuntimeError(f"subscriber {index} got no counters: {first}")
    read = first["payload"]["data"]["campaignCounters"]["read"]
    updates.append((index, time.perf_counter(), read))
    return socket


async def _listen(socket: ClientConnection, index: int, updates: list[Update]) -> None:
    async for raw in socket:
        message = orjson.loads(raw)
        if message["type"] == "next":
            read = message["payload"]["data"]["campaignCounters"]["read"]
            updates.append((index, time.perf_counter(), read))
        elif message["type"] == "ping":
            await socket.send('{"type": "pong"}')
        else:
            raise RuntimeError(f"subscriber {index} got {message}")


async def _subscribers(
    control: Connection, url: str, api_key: str, campaign_id: str, count: int
) -> None:
    updates: list[Update] = []
    opening = asyncio.Semaphore(OPENING)

    async def one(index: int) -> ClientConnection:
        async with opening:
            return await _subscribe(url, api_key, campaign_id, index, updates)

    sockets = await asyncio.gather(*(one(index) for index in range(count)))
    listeners = [
        asyncio.create_task(_listen(socket, index, updates))
        for index, socket in enumerate(sockets)
    ]
    control.send("subscribed")
    await asyncio.to_thread(control.recv)  # the load is over

    for listener in listeners:
        listener.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)
    await asyncio.gather(*(socket.close() for socket in sockets))
    control.send(updates)


def _run_subscribers(
    control: Connection, url: str, api_key: str, campaign_id: str, count: int
) -> None:
    asyncio.run(_subscribers(control, url, api_key, campaign_id, count))


# -- the measure ------------------------------------------------------------


def _api_key(stack: Stack) -> str:
    """A new key of the bench's workspace, made as an operator makes one."""
    command = ["apikey", "create", "--workspace", ingest.WORKSPACE]
    made = subprocess.run(
        [sys.executable, "-m", "xobito", *command],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


async def _load(stack: Stack) -> tuple[list[float], dict[str, Any]]:
    url = f"{stack.ingest_url}/webhooks/whatsapp"
    bodies = ingest.webhook_bodies(
        LOAD_RECIPIENTS, campaign=LOAD_CAMPAIGN, recipients=LOAD_RECIPIENTS
    )
    stop = asyncio.Event()
    acks: list[float] = []
    prober = asyncio.create_task(
        ingest.post_read_probes(url, WATCHED_CAMPAIGN, PROBES, stop, acks)
    )
    load = await post_for_async(
        url,
        lambda i: bodies[i % len(bodies)],
        APP_SECRET,
        workers=ingest.WORKERS,
        seconds=SECONDS,
        limit=None,
    )
    stop.set()
    await prober
    return acks, {"webhooks_per_s": round(load.answers[200] / load.seconds, 1)}


async def _register(stack: Stack) -> str:
    async with grpc.aio.insecure_channel(stack.metrics_target) as channel:
        stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        await ingest.register(stub, LOAD_CAMPAIGN, LOAD_RECIPIENTS)
        return await ingest.register(stub, WATCHED_CAMPAIGN, PROBES)


def _latencies_ms(acks: list[float], updates: list[Update]) -> list[float]:
    """Per subscriber and probe: from the probe's 200 to the update showing it."""
    seen: dict[int, list[tuple[float, int]]] = {}
    for index, at, read in updates:
        seen.setdefault(index, []).append((at, read))
    latencies = []
    for timeline in seen.values():
        timeline.sort()
        for k, acked in enumerate(acks, start=1):
            shown = next((at for at, read in timeline if read >= k), None)
            if shown is not None:
                latencies.append(max(0.0, (shown - acked) * 1000))
    return latencies


def _rss(process: psutil.Process) -> int:
    return int(process.memory_info().rss)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _settled_cpu_s(process: psutil.Process, limit_s: float = 30) -> float:
    """The process's CPU time once it has sent the updates it was behind
    on: when half a second passes with next to no CPU used."""
    deadline = time.monotonic() + limit_s
    used = _cpu_s(process)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        used, previous = _cpu_s(process), used
        if used - previous < 0.02:
            break
    return used


def measure(stack: Stack, **_: Any) -> dict[str, Any]:
    campaign_id = asyncio.run(_register(stack))
    api_key = _api_key(stack)
    url = stack.gateway_url.replace("http://", "ws://") + "/graphql"
    gateway = psutil.Process(stack.procs["gateway"].pid)

    here, there = multiprocessing.Pipe()
    warm = multiprocessing.Process(
        target=_run_subscribers, args=(there, url, api_key, campaign_id, 10)
    )
    warm.start()  # the first sockets load what every later one shares
    here.recv()
    before = _rss(gateway)

    clients, theirs = multiprocessing.Pipe()
    fleet = multiprocessing.Process(
        target=_run_subscribers,
        args=(theirs, url, api_key, campaign_id, SUBSCRIBERS),
    )
    fleet.start()
    clients.recv()
    time.sleep(IDLE_SECONDS)
    idle = _rss(gateway)

    cpu_before = _cpu_s(gateway)
    acks, load = asyncio.run(_load(stack))
    cpu_s = _settled_cpu_s(gateway) - cpu_before
    clients.send("stop")
    updates: list[Update] = clients.recv()
    here.send("stop")
    here.recv()
    for process in (fleet, warm):
        process.join()

    latencies = _latencies_ms(acks, updates)
    # Each subscriber's first update came before the load.
    sent = max(1, len(updates) - SUBSCRIBERS)
    return {
        "subscriptions": {
            "subscribers": SUBSCRIBERS,
            "update_p99_ms": round(percentile(latencies, 0.99), 1),
            "update_p50_ms": round(percentile(latencies, 0.50), 1),
            "rss_mb_per_1k_idle": round(
                (idle - before) / 2**20 * 1000 / SUBSCRIBERS, 1
            ),
            "gateway_cpu_us_per_update": round(cpu_s / sent * 1e6, 1),
            "probes": len(acks),
            "load_webhooks_per_s": load["webhooks_per_s"],
        }
    }
