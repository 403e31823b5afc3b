"""`xobito simulate`: play a realistic campaign against the running stack.

The simulator acts as the campaign sender and as Meta at once. As the
sender it creates a campaign over gRPC, asks which recipients may be
messaged, adds them and records the sends; as Meta it posts signed
webhooks: statuses spread over time and shuffled, some twice, some
`delivered` skipped, failures with real error codes, replies and a few
"STOP"s. It knows what each recipient's fate was, so it can print the
counters a correct system must show beside what the API reports.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential_jitter,
)

from xobito import devenv, webhooks
from xobito.channels import ChannelSettings, open_channel
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc

PHONE_NUMBER_ID = "100000000000001"
WABA_ID = "200000000000001"
DISPLAY_NUMBER = "16505559999"
COUNTERS = ("sent", "delivered", "read", "failed", "replied", "optedOut")

FIRST_NAMES = (
    "Ana",
    "José",
    "Zoë",
    "Mateus",
    "Priya",
    "Chloé",
    "Lukas",
    "Fatima",
    "Noah",
    "Søren",
    "Aisha",
    "Björn",
    "Lucía",
    "Wei",
)
LAST_NAMES = (
    "Silva",
    "García",
    "Müller",
    "Dubois",
    "Sharma",
    "Rossi",
    "van Dijk",
    "Kowalski",
    "Nguyen",
    "Ólafsson",
    "Santos",
    "Kim",
)

# Meta's errors for a send call it refused, and for messages that failed
# after it accepted them, with how often each occurs.
REJECTED = (
    (131009, "Parameter value is not valid"),
    (131021, "Recipient cannot be sender"),
    (100, "Invalid parameter"),
)
FAILED = (
    (131026, "Message undeliverable", 5),
    (
        131049,
        "This message was not delivered to maintain healthy ecosystem engagement.",
        2,
    ),
    (131048, "Spam rate limit hit", 1),
    (131050, "User has stopped receiving marketing messages", 1),
)
REPLIES = (
    "Is this still available?",
    "Yes please!",
    "How much is it?",
    "Can I get this in blue?",
    "👍",
    "Thanks, I'll come by tomorrow",
)
STOPS = ("STOP", "Stop.", "stop 🙏", "parar")


@dataclass
class Plan:
    """One simulated campaign: the sends, the webhooks, and the truth."""

    recipients: list[tuple[str, str]]
    sends: list[metrics_pb2.Send] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    truth: Counter[str] = field(default_factory=Counter)


def plan_campaign(recipients: list[tuple[str, str]], rng: random.Random) -> Plan:
    plan = Plan(recipients)
    # The campaign went out an hour ago, so that its statuses and replies,
    # spread over the hour since, all lie in the past.
    start = int(time.time()) - 3600
    for index, (phone, _name) in enumerate(recipients):
        sent_at = start + index // 50
        if rng.random() < 0.02:
            code, title = rng.choice(REJECTED)
            plan.sends.append(_send(phone, "", sent_at, code, title))
            plan.truth["failed"] += 1
            continue
        wamid = _wamid(rng)
        plan.sends.append(_send(phone, wamid, sent_at))
        plan.truth["sent"] += 1
        _plan_fate(plan, rng, phone, wamid, sent_at)
    return plan


def _plan_fate(
    plan: Plan, rng: random.Random, phone: str, wamid: str, sent_at: int
) -> None:
    def emit(value: str, at: int, code: int = 0, title: str = "") -> None:
        event = webhooks.status(
            wamid, value, at, phone, error_code=code, error_title=title
        )
        plan.statuses.append(event)
        if rng.random() < 0.05:
            plan.statuses.append(event)  # Meta delivers some webhooks twice

    if rng.random() < 0.97:
        emit("sent", sent_at + rng.randint(0, 3))
    if rng.random() < 0.05:
        code, title, _weight = rng.choices(FAILED, [f[2] for f in FAILED])[0]
        emit("failed", sent_at + rng.randint(2, 60), code, title)
        plan.truth["failed"] += 1
        return

    delivered_at = sent_at + rng.randint(2, 90)
    read = rng.random() < 0.55
    if not read or rng.random() > 0.15:
        emit("delivered", delivered_at)
    plan.truth["delivered"] += 1
    if read:
        emit("read", delivered_at + rng.randint(5, 900))
        plan.truth["read"] += 1

    at = delivered_at + rng.randint(60, 1800)
    if rng.random() < 0.015:
        text = rng.choice(STOPS)
        plan.truth["optedOut"] += 1
    elif rng.random() < 0.06:
        text = rng.choice(REPLIES)
    else:
        return
    context = wamid if rng.random() < 0.5 else ""
    plan.messages.append(
        webhooks.text_message(
            _wamid(rng),
            phone,
            at,
            text,
            context_wamid=context,
            business_number=DISPLAY_NUMBER,
        )
    )
    plan.truth["replied"] += 1


def _send(
    phone: str, wamid: str, at: int, code: int = 0, title: str = ""
) -> metrics_pb2.Send:
    return metrics_pb2.Send(
        phone=phone,
        wamid=wamid,
        sent_at=Timestamp(seconds=at),
        error_code=code,
        error_title=title,
    )


def _wamid(rng: random.Random) -> str:
    return "wamid.SIM" + base64.b64encode(rng.randbytes(18)).decode()


def make_recipients(count: int, rng: random.Random) -> list[tuple[str, str]]:
    phones: set[str] = set()
    while len(phones) < count:
        phones.add(f"1555{rng.randrange(10**7):07d}")
    return [
        (phone, f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}")
        for phone in sorted(phones)
    ]


def chunk_bodies(plan: Plan, rng: random.Random) -> list[bytes]:
    """Shuffle the events and pack them 1-5 to a body, as Meta batches them."""
    bodies = []
    for kind, items in (("statuses", plan.statuses), ("messages", plan.messages)):
        items = list(items)
        rng.shuffle(items)
        while items:
            size = rng.randint(1, 5)
            batch, items = items[:size], items[size:]
            bodies.append(
                webhooks.body(
                    waba_id=WABA_ID,
                    phone_number_id=PHONE_NUMBER_ID,
                    display_phone_number=DISPLAY_NUMBER,
                    **{kind: batch},
                )
            )
    rng.shuffle(bodies)
    return bodies


class RetryableError(Exception):
    """Meta retries a webhook that was not answered 200."""


async def post_bodies(
    bodies: list[bytes], url: str, app_secret: str, duration: float
) -> int:
    """Post every body, spread over duration seconds; return the retries."""
    retries = 0
    gate = asyncio.Semaphore(8)
    interval = duration / max(len(bodies), 1)
    started = time.monotonic()

    async with httpx.AsyncClient(timeout=30) as client:

        async def post(index: int, body: bytes) -> None:
            nonlocal retries
            await asyncio.sleep(max(0.0, started + index * interval - time.monotonic()))
            headers = {
                "Content-Type": "application/json",
                "X-Hub-Signature-256": webhooks.sign(body, app_secret),
            }
            async with gate:
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(
                        (RetryableError, httpx.TransportError)
                    ),
                    wait=wait_exponential_jitter(multiplier=0.2, max=5, jitter=0.2),
                    stop=stop_after_delay(120),
                    reraise=True,
                ):
                    with attempt:
                        if attempt.retry_state.attempt_number > 1:
                            retries += 1
                        reply = await client.post(url, content=body, headers=headers)
                        if reply.status_code != 200:
                            raise RetryableError(f"HTTP {reply.status_code}")

        await asyncio.gather(*(post(i, body) for i, body in enumerate(bodies)))
    return retries


@dataclass
class Target:
    metrics: str
    contacts: str
    ingest_url: str
    gateway_url: str
    app_secret: str
    api_key: str
    workspace: str
    channels: ChannelSettings = field(default_factory=ChannelSettings)


async def simulate(
    target: Target,
    recipients: int,
    seed: int,
    duration: float,
    announce: Callable[[str], None] = lambda campaign_id: None,
) -> tuple[str, Counter[str], dict[str, int], int]:
    """Play a campaign; return its id, the truth, the API's counters, retries.

    announce is called with the campaign's id as soon as it exists.
    """
    rng = random.Random(seed)
    people = make_recipients(recipients, rng)

    async with (
        open_channel(target.metrics, target.channels) as metrics_channel,
        open_channel(target.contacts, target.channels) as contacts_channel,
    ):
        metrics = metrics_pb2_grpc.MetricsServiceStub(metrics_channel)
        contacts = contacts_pb2_grpc.ContactsServiceStub(contacts_channel)

        campaign = await metrics.CreateCampaign(
            metrics_pb2.CreateCampaignRequest(
                workspace_id=target.workspace,
                name=f"Simulated campaign (seed {seed})",
                phone_number_id=PHONE_NUMBER_ID,
                waba_id=WABA_ID,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        announce(campaign.id)
        verdicts = await contacts.FilterSendable(
            contacts_pb2.FilterSendableRequest(
                workspace_id=target.workspace, phones=[p for p, _ in people]
            ),
            timeout=10,
        )
        sendable = {r.phone for r in verdicts.results if r.sendable}
        people = [(p, n) for p, n in people if p in sendable]

        plan = plan_campaign(people, rng)
        for start in range(0, len(people), 1000):
            await metrics.AddRecipients(
                metrics_pb2.AddRecipientsRequest(
                    campaign_id=campaign.id,
                    recipients=[
                        metrics_pb2.Recipient(phone=p, name=n)
                        for p, n in people[start : start + 1000]
                    ],
                ),
                timeout=30,
            )
        for start in range(0, len(plan.sends), 500):
            await metrics.RecordSends(
                metrics_pb2.RecordSendsRequest(
                    campaign_id=campaign.id, sends=plan.sends[start : start + 500]
                ),
                timeout=30,
            )

    bodies = chunk_bodies(plan, rng)
    retries = await post_bodies(
        bodies, f"{target.ingest_url}/webhooks/whatsapp", target.app_secret, duration
    )
    reported = await settled_counters(target, campaign.id, plan.truth)
    return campaign.id, plan.truth, reported, retries


async def settled_counters(
    target: Target, campaign_id: str, truth: Counter[str], timeout: float = 30.0
) -> dict[str, int]:
    """The API's counters, once they equal the truth or stop changing."""
    query = (
        "query($id: ID!) { campaign(id: $id) { counters {"
        f" {' '.join(COUNTERS)} }} }} }}"
    )
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while True:
            reply = await client.post(
                f"{target.gateway_url}/graphql",
                json={"query": query, "variables": {"id": campaign_id}},
                headers={"Authorization": f"Bearer {target.api_key}"},
            )
            reply.raise_for_status()
            counters: dict[str, int] = reply.json()["data"]["campaign"]["counters"]
            if all(counters[name] == truth[name] for name in COUNTERS):
                return counters
            if time.monotonic() > deadline:
                return counters
            await asyncio.sleep(0.2)


def main(args: argparse.Namespace) -> int:
    settings = devenv.settings()
    settings.require("whatsapp_app_secret", "dev_api_key")
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    target = Target(
        metrics=settings.metrics_target,
        contacts=settings.contacts_target,
        ingest_url=f"http://127.0.0.1:{settings.ingest_http_port}",
        gateway_url=f"http://127.0.0.1:{settings.gateway_port}",
        app_secret=settings.whatsapp_app_secret,
        api_key=settings.dev_api_key,
        workspace=devenv.DEV_WORKSPACE,
        channels=ChannelSettings.of(settings),
    )
    print(
        f"Simulating {args.recipients} recipients (seed {seed}) "
        f"over {args.duration:g} s…",
        flush=True,
    )

    def announce(campaign_id: str) -> None:
        print(f"Campaign {campaign_id}: watch it live with the subscription")
        print(f'  campaignCounters(campaignId: "{campaign_id}")', flush=True)

    try:
        _, truth, reported, retries = asyncio.run(
            simulate(target, args.recipients, seed, args.duration, announce)
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() is not grpc.StatusCode.UNAVAILABLE:
            raise
        print(
            f"xobito: metrics does not answer at {target.metrics};"
            " is `make run` running?",
            file=sys.stderr,
        )
        return 1

    print(f"\nWebhooks retried after a non-200 answer: {retries}")
    print(f"  {'counter':<10} {'truth':>8} {'API':>8}")
    for name in COUNTERS:
        mark = "" if truth[name] == reported[name] else "   <- differs"
        print(f"  {name:<10} {truth[name]:>8} {reported[name]:>8}{mark}")
    matches = all(truth[name] == reported[name] for name in COUNTERS)
    print(
        "\nThe counters equal the ground truth."
        if matches
        else "\nThe counters differ from the ground truth."
    )
    return 0 if matches else 1
