"""Faults under load: a campaign's webhooks while services and servers fail.

Meta posts a campaign's webhooks at a steady pace, and posts again, with
backoff, whatever is not answered 200. Meanwhile, round after round,
metrics and contacts are killed (SIGKILL), Valkey is killed, PostgreSQL
crashes (immediate shutdown), and each comes back after a pause. Valkey
comes back empty in odd rounds, as a server without persistence would,
and from its append-only file in even ones.

When the stream is over, the campaign must be exactly what its webhooks
say: every recipient's row and timeline, the counters, the messages and
opt-outs contacts kept. Nothing lost, nothing counted twice, nothing set
aside as unreadable. `make chaos` runs it:

    .venv/bin/python -m tests.chaos [--recipients N] [--rounds R] [--seed S]

tests/test_chaos.py runs a small one with the suite.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_random_exponential,
)

from tests.counting import shown
from tests.stack import APP_SECRET, SERVERS, Servers, Stack
from tests.test_crash import WORKSPACE, expected_rows, row_of, start_campaign, truth_of
from xobito import logs
from xobito.metrics.v1 import metrics_pb2 as pb
from xobito.metrics.v1.metrics_pb2_grpc import MetricsServiceStub
from xobito.simulate import STOPS, Plan, chunk_bodies, make_recipients, plan_campaign
from xobito.webhooks import sign


class NotTakenError(Exception):
    """Meta posts a webhook again until it is answered 200."""


class Meta:
    """Posts webhooks from worker threads at a steady pace, as Meta does.

    Each body is posted again, with backoff, until it is answered 200.
    """

    def __init__(self, url: str, per_second: float, workers: int = 8) -> None:
        self._url = url
        self._interval = 1 / per_second
        self._client = httpx.Client(
            timeout=30, limits=httpx.Limits(max_connections=workers)
        )
        self._pool = ThreadPoolExecutor(workers)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._futures: list[Future[None]] = []
        self._next_slot = time.monotonic()
        self.answers: Counter[int] = Counter()
        self.taken = 0

    def post(self, bodies: Sequence[bytes]) -> None:
        """Start posting bodies, after those posted before; return at once."""
        self._next_slot = max(self._next_slot, time.monotonic())
        for body in bodies:
            slot, self._next_slot = self._next_slot, self._next_slot + self._interval
            self._futures.append(self._pool.submit(self._deliver, body, slot))

    def wait_until_taken(self, count: int, seconds: float = 120) -> None:
        """Return once count bodies were answered 200; raise what failed."""
        deadline = time.monotonic() + seconds
        while self.taken < count:
            for future in self._futures:
                if future.done():
                    future.result()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} webhooks not taken in {seconds} s")
            time.sleep(0.02)

    def finish(self) -> None:
        """Wait until every body posted was answered 200."""
        for future in self._futures:
            future.result(timeout=180)

    def close(self) -> None:
        # Leaves no thread retrying behind a failed run.
        self._stopped.set()
        self._pool.shutdown(cancel_futures=True)
        self._client.close()

    def _deliver(self, body: bytes, slot: float) -> None:
        time.sleep(max(0.0, slot - time.monotonic()))
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(body, APP_SECRET),
        }
        for attempt in Retrying(
            retry=retry_if_exception_type((NotTakenError, httpx.TransportError)),
            wait=wait_random_exponential(multiplier=0.05, max=1.0),
            stop=stop_after_delay(150) | stop_when_event_set(self._stopped),
            reraise=True,
        ):
            with attempt:
                reply = self._client.post(self._url, content=body, headers=headers)
                with self._lock:
                    self.answers[reply.status_code] += 1
                if reply.status_code != 200:
                    raise NotTakenError(reply.status_code)
        with self._lock:
            self.taken += 1


@dataclass(frozen=True)
class Fault:
    """One process or server gone for a pause, then back."""

    target: str
    empty: bool = False  # Valkey only: comes back without its data

    @property
    def name(self) -> str:
        if self.target == "postgres":
            return "postgres crashed"
        if self.target == "valkey" and self.empty:
            return "valkey killed, back empty"
        return f"{self.target} killed"

    def inject(self, stack: Stack, pause: float) -> None:
        if self.target not in SERVERS:
            stack.kill(self.target)
            time.sleep(pause)
            stack.start_service(self.target)
            return
        servers = stack.servers
        servers.crash(self.target)
        if self.empty:
            shutil.rmtree(servers.valkey.data_dir)
            servers.valkey.prepare()
        time.sleep(pause)
        servers.restart(self.target)


def schedule(rounds: int) -> list[Fault]:
    """Each round: metrics, contacts, Valkey, then PostgreSQL."""
    return [
        fault
        for number in range(1, rounds + 1)
        for fault in (
            Fault("metrics"),
            Fault("contacts"),
            Fault("valkey", empty=number % 2 == 1),
            Fault("postgres"),
        )
    ]


@dataclass
class Report:
    """What was sent, what was done to the system, and what it kept."""

    events: int
    bodies: int
    answers: Counter[int]
    faults: list[str]
    # Planned events missing from what was kept (timelines, messages,
    # opt-outs), and events kept more than once.
    missing: int = 0
    repeated: int = 0
    # Each counter minus its truth.
    counters_off: dict[str, int] = field(default_factory=dict)
    # Recipients whose row is not the one their webhooks make.
    rows_wrong: int = 0
    # Dead letters and unroutable events: what ingest kept aside.
    set_aside: int = 0

    @property
    def lost(self) -> int:
        return self.missing + sum(-d for d in self.counters_off.values() if d < 0)

    @property
    def doubled(self) -> int:
        return self.repeated + sum(d for d in self.counters_off.values() if d > 0)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.rows_wrong or self.set_aside)

    def lines(self) -> list[str]:
        answers = ", ".join(
            f"{n} answered {code}" for code, n in sorted(self.answers.items())
        )
        faults = ", ".join(f"{name}: {n}" for name, n in Counter(self.faults).items())
        return [
            f"events sent      {self.events} in {self.bodies} webhooks ({answers})",
            f"faults injected  {len(self.faults)} ({faults})",
            f"events lost      {self.lost}",
            f"double counts    {self.doubled}",
            f"rows wrong       {self.rows_wrong}",
            f"set aside        {self.set_aside}",
        ]


def run(
    stack: Stack,
    *,
    recipients: int,
    rounds: int,
    seed: int,
    pause: float = 0.5,
    per_second: float = 40.0,
    log: Callable[[str], None] = lambda line: None,
) -> Report:
    """Play a campaign through the faults of `rounds` rounds; what it kept."""
    rng = random.Random(seed)
    plan = plan_campaign(make_recipients(recipients, rng), rng)
    bodies = chunk_bodies(plan, rng)
    campaign_id = start_campaign(stack, plan)
    faults = schedule(rounds)
    parts = _split(bodies, len(faults) + 1)

    meta = Meta(f"{stack.ingest_url}/webhooks/whatsapp", per_second)
    try:
        posted = 0
        for fault, part in zip(faults, parts, strict=False):
            meta.post(part)
            posted += len(part)
            # Half of this part is taken; the other half meets the fault.
            meta.wait_until_taken(posted - len(part) // 2)
            log(f"  {fault.name}")
            fault.inject(stack, pause)
        meta.post(parts[-1])
        meta.finish()
    finally:
        meta.close()

    report = Report(
        events=len(plan.statuses) + len(plan.messages),
        bodies=len(bodies),
        answers=meta.answers,
        faults=[fault.name for fault in faults],
    )
    _check_metrics(stack, plan, campaign_id, report)
    _check_contacts(stack, plan, report)
    report.set_aside = _set_aside(stack)
    return report


def _split(items: Sequence[bytes], parts: int) -> list[Sequence[bytes]]:
    size = -(-len(items) // parts)
    return [items[i * size : (i + 1) * size] for i in range(parts)]


def _check_metrics(stack: Stack, plan: Plan, campaign_id: str, report: Report) -> None:
    truth = truth_of(plan)
    # The last changes may still wait in the outbox for the relay.
    deadline = time.monotonic() + 30
    while (counters := _counters(stack, campaign_id)) != truth:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    report.counters_off = {
        name: counters[name] - truth[name]
        for name in truth
        if counters[name] != truth[name]
    }

    rows = {row.phone: row for row in _rows(stack, campaign_id)}
    expected = expected_rows(plan)
    report.rows_wrong = sum(
        1
        for phone, row in expected.items()
        if phone not in rows or row_of(rows[phone]) != row
    )
    planned = _planned_timelines(plan)
    for phone, wamid in ((p, r.wamid) for p, r in expected.items() if r.wamid):
        kept = [
            (entry.status, entry.at.seconds)
            for entry in (rows[phone].timeline if phone in rows else [])
        ]
        report.missing += len(planned.get(wamid, set()) - set(kept))
        report.repeated += len(kept) - len(set(kept))


def _planned_timelines(plan: Plan) -> dict[str, set[tuple[str, int]]]:
    timelines: dict[str, set[tuple[str, int]]] = {}
    for status in plan.statuses:
        # Timelines spell Meta's statuses upper-cased.
        entry = (status["status"].upper(), int(status["timestamp"]))
        timelines.setdefault(status["id"], set()).add(entry)
    return timelines


def _counters(stack: Stack, campaign_id: str) -> dict[str, int]:
    with stack.channel("metrics") as channel:
        campaign = MetricsServiceStub(channel).GetCampaign(
            pb.GetCampaignRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
            timeout=10,
        )
    return shown(campaign)


def _rows(stack: Stack, campaign_id: str) -> Iterator[pb.RecipientRow]:
    token = ""
    with stack.channel("metrics") as channel:
        metrics = MetricsServiceStub(channel)
        while True:
            page = metrics.ListRecipients(
                pb.ListRecipientsRequest(
                    workspace_id=WORKSPACE,
                    campaign_id=campaign_id,
                    page_size=500,
                    page_token=token,
                ),
                timeout=10,
            )
            yield from page.recipients
            token = page.next_page_token
            if not token:
                return


def _check_contacts(stack: Stack, plan: Plan, report: Report) -> None:
    """Every message kept once; each STOP one opt-out, and no more."""
    with psycopg.connect(stack.servers.postgres.url) as conn:
        kept = [
            wamid
            for (wamid,) in conn.execute(
                "SELECT wamid FROM contacts.messages WHERE workspace_id = %s",
                [WORKSPACE],
            )
        ]
        opt_outs = Counter(
            phone
            for (phone,) in conn.execute(
                "SELECT phone FROM contacts.flag_changes"
                " WHERE workspace_id = %s AND flag = 'opted_out' AND value",
                [WORKSPACE],
            )
        )
    planned = {message["id"] for message in plan.messages}
    stops = {m["from"] for m in plan.messages if m["text"]["body"] in STOPS}
    report.missing += len(planned - set(kept)) + len(stops - set(opt_outs))
    report.repeated += len(kept) - len(set(kept))
    report.repeated += sum(n - 1 for n in opt_outs.values())


def _set_aside(stack: Stack) -> int:
    with psycopg.connect(stack.servers.postgres.url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM ingest.dead_letters)"
            " + (SELECT count(*) FROM ingest.unroutable_events)"
        ).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def chaos_stack(root: Path) -> Iterator[Stack]:
    """Durable servers and the services the stream goes through.

    PostgreSQL must be durable here: without fsync and synchronous
    commit, its crash would forget commits it had already acknowledged.
    """
    servers = Servers(root, durable=True)
    stack = Stack(servers)
    try:
        servers.start()
        stack.start("metrics", "contacts", "ingest")
        yield stack
    finally:
        stack.stop()
        servers.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos")
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pause", type=float, default=1.0)
    args = parser.parse_args(argv)
    logs.configure(level="WARNING")

    print(
        f"Chaos: {args.recipients} recipients, {args.rounds} rounds of faults"
        f" (seed {args.seed})",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="xobito-chaos-") as root,
        chaos_stack(Path(root)) as stack,
    ):
        report = run(
            stack,
            recipients=args.recipients,
            rounds=args.rounds,
            seed=args.seed,
            pause=args.pause,
            log=lambda line: print(line, flush=True),
        )
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
