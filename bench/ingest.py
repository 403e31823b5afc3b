"""Webhooks at full speed through ingest, metrics and contacts, then more.

A campaign's sends are recorded first; then the load generator posts
signed Meta-format bodies of 1-5 delivered and read statuses (3% of the
bodies again, as Meta's retries; 3% replies) for a fixed time. Only what
the counters show is counted: each delivered or read status moves one
counter once. A probe posts one read status every 100 ms to a campaign of
its own and times the change of its counters from the webhook's 200.
Each process's CPU time over the load, per webhook answered, shows where
the machine's cores went (`cpu_ms_per_webhook`, with `other` for what
they did outside those processes), and `cpu_busy_pct` how much of the
time they were busy.

Then the overload: bodies posted at twice the rate just sustained,
whatever the answers, for OVERLOAD_SECONDS. Ingest should shed what it
cannot take with 503 (Meta retries), keep its memory bounded, and answer
the backlog it took soon after the posting stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import grpc
import httpx

from bench.cpu import CpuMeter, server, service, this_process
from bench.loadgen import NO_ANSWER, LoadResult, post_at_rate_async, post_for_async
from bench.timing import percentile
from tests.stack import APP_SECRET, Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc

WORKSPACE = "bench-ingest"
NUMBER = "100000000000002"
RECIPIENTS = 150_000
PROBES = 2_000
SECONDS = 20.0
# Concurrent deliveries, as Meta's many connections make them: half of
# INGEST_MAX_IN_FLIGHT, so the latency probes are never shed. More in
# flight means larger shared batches and more statuses a second (on 2
# cores: 32 → 2,825, 64 → 3,712, 128 → 4,596, 256 → 5,207 with ack p99
# 242 ms), and the bare endpoint of bench.ceilings is loaded alike.
WORKERS = 128
OVERLOAD_SECONDS = 10.0
# More connections than ingest takes webhooks at once (INGEST_MAX_IN_FLIGHT),
# so that what it cannot take reaches it and is shed there.
OVERLOAD_CONNECTIONS = 1024
START = 1_767_000_000
SERVICES = ("ingest", "metrics", "contacts")


def phone_of(campaign: int, index: int) -> str:
    return f"1777{campaign}{index:06d}"


def wamid_of(campaign: int, index: int) -> str:
    return f"wamid.load-{campaign}-{index}"


async def register(stub: Any, campaign: int, count: int) -> str:
    """Campaign number `campaign` with `count` recipients sent to; its id."""
    made = await stub.CreateCampaign(
        metrics_pb2.CreateCampaignRequest(
            workspace_id=WORKSPACE,
            name=f"load {campaign}",
            phone_number_id=NUMBER,
            template_name="bench_template",
        )
    )
    for start in range(0, count, 5_000):
        indexes = range(start, min(count, start + 5_000))
        await stub.AddRecipients(
            metrics_pb2.AddRecipientsRequest(
                campaign_id=made.id,
                recipients=[
                    metrics_pb2.Recipient(phone=phone_of(campaign, i)) for i in indexes
                ],
            )
        )
        sends = []
        for i in indexes:
            send = metrics_pb2.Send(
                phone=phone_of(campaign, i), wamid=wamid_of(campaign, i)
            )
            send.sent_at.FromSeconds(START)
            sends.append(send)
        await stub.RecordSends(
            metrics_pb2.RecordSendsRequest(campaign_id=made.id, sends=sends)
        )
    return str(made.id)


def webhook_bodies(
    count: int, campaign: int = 1, recipients: int = RECIPIENTS
) -> list[bytes]:
    """Bodies of 1-5 statuses for recipients of a campaign, in order."""
    rng = random.Random(8)
    bodies: list[bytes] = []
    recipient = 0
    while len(bodies) < count and recipient < recipients:
        roll = rng.random()
        if bodies and roll < 0.03:
            bodies.append(bodies[rng.randrange(len(bodies))])
            continue
        if roll < 0.06:
            replier = rng.randrange(max(recipient, 1))
            message = webhooks.text_message(
                f"wamid.load-in-{len(bodies)}",
                phone_of(campaign, replier),
                START + 600,
                "Is this still on?",
            )
            bodies.append(body(messages=[message]))
            continue
        statuses: list[dict[str, Any]] = []
        wanted = rng.randint(1, 5)
        while len(statuses) < wanted and recipient < recipients:
            wamid, phone = wamid_of(campaign, recipient), phone_of(campaign, recipient)
            statuses.append(webhooks.status(wamid, "delivered", START + 5, phone))
            if len(statuses) < wanted and rng.random() < 0.6:
                statuses.append(webhooks.status(wamid, "read", START + 60, phone))
            recipient += 1
        bodies.append(body(statuses=statuses))
    return bodies


def body(**items: Any) -> bytes:
    return webhooks.body(
        waba_id="200000000000002",
        phone_number_id=NUMBER,
        display_phone_number="16505550002",
        **items,
    )


async def post_read_probes(
    url: str, campaign: int, count: int, stop: asyncio.Event, acks: list[float]
) -> None:
    """Post a read status of each probe recipient of campaign, one by one,
    appending to acks when each was answered 200; until stop or a refusal."""
    async with httpx.AsyncClient(timeout=30) as client:
        for index in range(count):
            if stop.is_set():
                return
            status = webhooks.status(
                wamid_of(campaign, index), "read", START + 9, phone_of(campaign, index)
            )
            posted = body(statuses=[status])
            reply = await client.post(
                url,
                content=posted,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": webhooks.sign(posted, APP_SECRET),
                },
            )
            if reply.status_code != 200:
                return
            acks.append(time.perf_counter())
            await asyncio.sleep(0.1)


async def _counters(stub: Any, campaign_id: str) -> metrics_pb2.Counters:
    campaign = await stub.GetCampaign(
        metrics_pb2.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id=campaign_id)
    )
    return campaign.counters


async def _run(stack: Stack) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(stack.metrics_target) as channel:
        stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        load_id = await register(stub, 1, RECIPIENTS)
        probe_id = await register(stub, 2, PROBES)
        bodies = webhook_bodies(RECIPIENTS)
        before = await _counters(stub, load_id)

        url = f"{stack.ingest_url}/webhooks/whatsapp"
        probe_acks: list[float] = []
        changes: list[tuple[float, int]] = []
        done = asyncio.Event()

        async def watch() -> None:
            stream = stub.WatchCounters(
                metrics_pb2.WatchCountersRequest(
                    workspace_id=WORKSPACE, campaign_id=probe_id
                )
            )
            async for update in stream:
                changes.append((time.perf_counter(), update.counters.read))
                if done.is_set() and update.counters.read >= len(probe_acks):
                    return

        watcher = asyncio.create_task(watch())
        prober = asyncio.create_task(post_read_probes(url, 2, PROBES, done, probe_acks))
        # The load generator is this process, the probes and the watch
        # of the counters with it.
        cpu = CpuMeter(
            {
                **{name: service(stack, name) for name in SERVICES},
                "postgres": server(stack, "postgres"),
                "valkey": server(stack, "valkey"),
                "loadgen": this_process(),
            }
        )
        load: LoadResult = await post_for_async(
            url,
            lambda i: bodies[i],
            APP_SECRET,
            workers=WORKERS,
            seconds=SECONDS,
            limit=len(bodies),
        )
        cpu_ms = cpu.ms_per(sum(load.answers.values()))
        cpu_busy_pct = cpu.busy_pct()
        done.set()
        await prober
        deadline = time.perf_counter() + 30
        while changes[-1][1] < len(probe_acks) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        after = await _counters(stub, load_id)

        posted = sum(load.answers.values())
        rate = 2 * load.answers[200] / load.seconds
        overload = await _overload(stack, url, bodies, posted, rate)

    visible = (after.delivered - before.delivered) + (after.read - before.read)
    lags = []
    for k, acked in enumerate(probe_acks, start=1):
        seen = next(t for t, read in changes if read >= k)
        lags.append(max(0.0, (seen - acked) * 1000))
    return {
        "ingest": {
            "statuses_per_s": round(visible / load.seconds, 1),
            "webhooks_per_s": round(load.answers[200] / load.seconds, 1),
            "ack_p50_ms": round(percentile(load.latencies_ms, 0.50), 2),
            "ack_p99_ms": round(percentile(load.latencies_ms, 0.99), 2),
            "lag_p99_ms": round(percentile(lags, 0.99), 2) if lags else None,
            "answers": _answers(load),
            "seconds": round(load.seconds, 1),
            "cpu_ms_per_webhook": cpu_ms,
            "cpu_busy_pct": cpu_busy_pct,
        },
        "overload": overload,
    }


async def _overload(
    stack: Stack, url: str, bodies: list[bytes], first: int, rate: float
) -> dict[str, Any]:
    """Post at `rate` for OVERLOAD_SECONDS; what was shed, kept, and how."""
    processes = {name: service(stack, name) for name in SERVICES}
    peak_rss = {name: process.memory_info().rss for name, process in processes.items()}

    async def sample_rss() -> None:
        while True:
            for name, process in processes.items():
                peak_rss[name] = max(peak_rss[name], process.memory_info().rss)
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample_rss())
    started = time.perf_counter()
    load = await post_at_rate_async(
        url,
        # Past the prepared bodies, Meta's retries of the first ones.
        lambda i: bodies[i % len(bodies)],
        APP_SECRET,
        rate=rate,
        seconds=OVERLOAD_SECONDS,
        connections=OVERLOAD_CONNECTIONS,
        first=first,
    )
    sampler.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sampler

    answered = sum(load.answers.values())
    latencies = load.latencies_ms_by_answer
    return {
        "offered_per_s": round(rate, 1),
        "seconds": round(load.seconds, 1),
        "shed_pct": round(100 * load.answers[503] / answered, 1),
        "ack_p99_ms": _p99(latencies.get(200, [])),
        "shed_p99_ms": _p99(latencies.get(503, [])),
        "drain_s": round(max(0.0, load.last_answer_at - started - load.seconds), 2),
        "max_rss_mb": {name: round(rss / 2**20, 1) for name, rss in peak_rss.items()},
        "crashed": sorted(
            name for name in processes if stack.procs[name].poll() is not None
        ),
        "answers": _answers(load),
    }


def _p99(samples: list[float]) -> float | None:
    return round(percentile(samples, 0.99), 2) if samples else None


def _answers(load: LoadResult) -> dict[str, int]:
    return {
        ("none" if code == NO_ANSWER else str(code)): n
        for code, n in sorted(load.answers.items())
    }


def measure(stack: Stack, **_: Any) -> dict[str, Any]:
    return asyncio.run(_run(stack))
