"""The recipients table of a 1,000,000-recipient campaign, through GraphQL.

The campaign is made the way a sender makes one, over gRPC: recipients,
sends, then statuses in large batches straight to metrics (no webhooks).
Then a filtered sorted page, a phone search and a name search are asked
through the gateway, as the campaign page asks them, and PostgreSQL
explains the statements metrics runs for each. The campaign is built
once per run: the export measure reads the same one.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass
from typing import Any, cast

import httpx
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from bench.timing import sample_ms, summary
from gateway.apikeys import create_key
from services.metrics import store
from services.metrics.campaigns import page_size
from services.metrics.ledger import Conn
from services.metrics.recipients import (
    SEARCH_COUNT_LIMIT,
    RecipientSort,
    count_limit,
    counts_rows,
)
from services.metrics.search import Search
from services.metrics.statuses import Status
from services.metrics.store import RecipientQuery
from tests.stack import Stack
from xobito.ingest.v1 import events_pb2
from xobito.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from xobito.simulate import FIRST_NAMES, LAST_NAMES

WORKSPACE = "bench"
NUMBER = "100000000000001"
BATCH = 5_000
START = 1_767_000_000
FIRST = FIRST_NAMES
LAST = LAST_NAMES

PAGE = """query ($id: ID!, $sort: RecipientSort) { campaign(id: $id) {
  recipients(status: READ, sort: $sort, first: 50) { totalCount
    pageInfo { endCursor } edges { node { phone name status readAt } } } } }"""
# The sorts the page is asked in, in turn.
SORTS = ("READ_AT_DESC", "READ_AT", "SENT_AT_DESC", "STATUS")
SEARCH = """query ($id: ID!, $q: String) { campaign(id: $id) {
  recipients(search: $q, first: 50) { totalCount
    edges { node { phone name status sentAt } } } } }"""


def _phone(index: int) -> str:
    return f"1555{index:07d}"


def _name(index: int) -> str:
    return f"{FIRST[index % len(FIRST)]} {LAST[(index // 7) % len(LAST)]} {index}"


def _build(stub: metrics_pb2_grpc.MetricsServiceStub, total: int) -> str:
    campaign = stub.CreateCampaign(
        metrics_pb2.CreateCampaignRequest(
            workspace_id=WORKSPACE,
            name="bench",
            phone_number_id=NUMBER,
            template_name="bench_template",
        ),
        timeout=30,
    )
    for start in range(0, total, BATCH):
        indexes = range(start, min(total, start + BATCH))
        stub.AddRecipients(
            metrics_pb2.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[
                    metrics_pb2.Recipient(phone=_phone(i), name=_name(i))
                    for i in indexes
                ],
            ),
            timeout=300,
        )
        sends = []
        for i in indexes:
            send = metrics_pb2.Send(phone=_phone(i), wamid=f"wamid.bench-{i}")
            send.sent_at.FromSeconds(START + i // 100)
            sends.append(send)
        stub.RecordSends(
            metrics_pb2.RecordSendsRequest(campaign_id=campaign.id, sends=sends),
            timeout=300,
        )

        # 70% delivered, half of those read, 3% failed as not on WhatsApp.
        batch = events_pb2.EventBatch()
        for i in indexes:
            fate = i % 100
            kinds = (
                ["delivered"]
                if fate < 35
                else ["delivered", "read"]
                if fate < 70
                else ["failed"]
                if fate < 73
                else []
            )
            for offset, kind in enumerate(kinds, start=1):
                event = batch.statuses.add(
                    phone_number_id=NUMBER,
                    workspace_id=WORKSPACE,
                    wamid=f"wamid.bench-{i}",
                    status=kind,
                    recipient=_phone(i),
                )
                event.occurred_at.FromSeconds(START + i // 100 + offset * 30)
                if kind == "failed":
                    event.error.code = 131026
                    event.error.category = "not_on_whatsapp"
        stub.RecordEvents(metrics_pb2.RecordEventsRequest(batch=batch), timeout=300)
        done = start + len(indexes)
        if done % 100_000 == 0 or done == total:
            print(f"  recipients: {done:,} of {total:,}", flush=True)
    return str(campaign.id)


@dataclass(frozen=True)
class Campaign:
    """The bench campaign on a stack, and a key of its workspace."""

    id: str
    api_key: str
    recipients: int
    build_s: float


_built: dict[tuple[str, int], Campaign] = {}


def campaign(stack: Stack, recipients: int) -> Campaign:
    """The campaign of that many recipients, built on first use."""
    key = (stack.servers.postgres.url, recipients)
    if key not in _built:
        with psycopg.connect(stack.servers.postgres.url) as conn:
            api_key = create_key(conn, WORKSPACE, stack.env["API_KEY_PEPPER"])
        started = time.perf_counter()
        with stack.channel("metrics") as channel:
            stub = metrics_pb2_grpc.MetricsServiceStub(channel)
            campaign_id = _build(stub, recipients)
        _analyze(stack.servers.postgres.url)
        built_s = round(time.perf_counter() - started, 1)
        _built[key] = Campaign(campaign_id, api_key, recipients, built_s)
    return _built[key]


def _analyze(database_url: str) -> None:
    """Statistics of the loaded tables, as autovacuum would gather them
    soon after a bulk load: without them the planner guesses."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE metrics.recipients, metrics.status_events")


def measure(stack: Stack, *, recipients: int = 1_000_000, **_: Any) -> dict[str, Any]:
    built = campaign(stack, recipients)
    campaign_id = built.id

    rng = random.Random(1)
    with httpx.Client(
        base_url=stack.gateway_url,
        timeout=60,
        headers={"Authorization": f"Bearer {built.api_key}"},
    ) as client:

        def ask(query: str, **variables: Any) -> None:
            reply = client.post(
                "/graphql",
                json={"query": query, "variables": {"id": campaign_id, **variables}},
            )
            payload = reply.json()
            assert "errors" not in payload, payload["errors"]
            assert payload["data"]["campaign"]["recipients"]["totalCount"] > 0

        page = sample_ms(lambda i: ask(PAGE, sort=SORTS[i % len(SORTS)]), count=60)
        phone = sample_ms(
            lambda _: ask(SEARCH, q=_phone(rng.randrange(recipients))[3:9]), count=60
        )
        name = sample_ms(
            lambda _: ask(SEARCH, q=rng.choice(LAST)[1:5].lower()), count=60
        )

    plans = asyncio.run(_explain(stack.servers.postgres.url, campaign_id, recipients))

    return {
        "recipients_1m": {
            "recipients": recipients,
            "build_s": built.build_s,
            "page_p95_ms": summary(page)["p95_ms"],
            "phone_search_p95_ms": summary(phone)["p95_ms"],
            "name_search_p95_ms": summary(name)["p95_ms"],
            "page_p50_ms": summary(page)["p50_ms"],
            "phone_search_p50_ms": summary(phone)["p50_ms"],
            "name_search_p50_ms": summary(name)["p50_ms"],
            **_explained(plans),
        }
    }


# -- what PostgreSQL does with metrics' statements ------------------------

# The first lines of a plan are its top nodes; the rest is detail.
PLAN_LINES = 12
_INDEX_NODE = re.compile(r"\bIndex (Only )?Scan\b")
_INDEX_NAME = re.compile(r"\bIndex (?:Only )?Scan (?:Backward )?(?:using|on) (\S+)")


class _Explaining:
    """Stands in for metrics' connection: runs each statement the store
    builds under EXPLAIN (ANALYZE, BUFFERS), with the same parameters,
    and keeps the plans instead of the rows."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self.plans: list[list[str]] = []

    async def execute(self, statement: sql.Composable, params: Any = None) -> Any:
        explain = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(statement)
        cursor = await self._conn.execute(explain, params)
        self.plans.append([row["QUERY PLAN"] for row in await cursor.fetchall()])
        return cursor


async def _explain(
    database_url: str, campaign_id: str, recipients: int
) -> dict[str, dict[str, list[str]]]:
    """The plans of the statements metrics runs for the first page of
    each kind of request measured above: the page, and the count unless
    the live counters have it (a search's count lists the ids its page is
    then read by)."""
    sort = RecipientSort[SORTS[0]]
    asks = {
        "page": (RecipientQuery(campaign_id, Status.READ), sort),
        "phone_search": (
            RecipientQuery(
                campaign_id, search=Search.parse(_phone(recipients // 2)[3:9])
            ),
            RecipientSort.ADDED,
        ),
        "name_search": (
            RecipientQuery(campaign_id, search=Search.parse(LAST[0][1:5].lower())),
            RecipientSort.ADDED,
        ),
    }
    # As the gateway asks for `first: 50`: metrics reads one row more.
    limit = page_size(50) + 1
    plans: dict[str, dict[str, list[str]]] = {}
    async with await psycopg.AsyncConnection.connect(
        database_url, row_factory=dict_row, autocommit=True
    ) as conn:
        for asked, (query, order) in asks.items():
            explaining = _Explaining(conn)
            # The store only calls execute() and reads the cursor.
            as_conn = cast(Conn, explaining)
            if query.search and order is RecipientSort.ADDED:
                # A search lists its matches' ids, then reads the page by id.
                matches = SEARCH_COUNT_LIMIT + 1
                ids = await store.matching_ids(conn, query, matches)
                await store.matching_ids(as_conn, query, matches)
                await store.recipients_by_id(as_conn, ids[:limit])
                plans[asked] = {
                    "count": explaining.plans[-2],
                    "rows": explaining.plans[-1],
                }
                continue
            await store.recipients_page(
                as_conn, query, order.column, order.descending, None, limit
            )
            plans[asked] = {"rows": explaining.plans[-1]}
            if counts_rows(query):
                await store.recipient_count(as_conn, query, count_limit(query))
                plans[asked]["count"] = explaining.plans[-1]
    return plans


def _explained(plans: dict[str, dict[str, list[str]]]) -> dict[str, Any]:
    """Whether each request reads an index, and its plans' top lines,
    printed as well."""
    uses_index: dict[str, bool] = {}
    explain: dict[str, dict[str, list[str]]] = {}
    for asked, statements in plans.items():
        uses_index[f"{asked}_uses_index"] = all(
            _uses_index(plan) for plan in statements.values()
        )
        explain[asked] = {
            statement: _top(plan) for statement, plan in statements.items()
        }
        for statement, lines in explain[asked].items():
            print(f"  EXPLAIN {asked} ({statement}):")
            print("\n".join(f"    {line}" for line in lines))
        # Any index makes *_uses_index true, even one that only finds the
        # campaign's rows: which ones tells more.
        explain[asked]["indexes"] = _indexes(*statements.values())
        print(f"  {asked} reads the indexes {', '.join(explain[asked]['indexes'])}")
    return {**uses_index, "explain": explain}


def _top(plan: list[str]) -> list[str]:
    """The plan's first lines, and the time it took."""
    timing = [line for line in plan[PLAN_LINES:] if line.startswith("Execution")]
    return plan[:PLAN_LINES] + timing


def _uses_index(plan: list[str]) -> bool:
    return any(_INDEX_NODE.search(line) for line in plan)


def _indexes(*plans: list[str]) -> list[str]:
    """The names of the indexes the plans scan."""
    return sorted(
        {
            match[1]
            for plan in plans
            for line in plan
            for match in _INDEX_NAME.finditer(line)
        }
    )
