"""The recipients table through GraphQL, against a ground truth.

One campaign of 300 recipients whose fates, names and times are known
in advance: every filter, search and sort must page out exactly the
rows the ground truth says, in its order, seven at a time. Then pages
are walked while statuses keep arriving, and what keyset paging
promises is checked exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from tests.stack import Servers, Stack, reset_data
from xobito import failures, webhooks
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

WORKSPACE = "test"
# A number no other test routes, so no cached route points elsewhere.
NUMBER = "100000000000321"
T0 = 1772445600  # 2026-03-02T10:00:00Z
SIZE = 300
FIRST = 7

# Names as typed, and as a search sees them (case-folded, no accents).
NAMES = (
    ("José Núñez", "jose nunez"),
    ("ZOË BROWN", "zoe brown"),
    ("björn ólafsson", "bjorn olafsson"),
    ("Chloé Dubois", "chloe dubois"),
    ("Ana María López", "ana maria lopez"),
    ("JOSE maria", "jose maria"),
    ("François Müller", "francois muller"),
    ("", ""),
    ("Émile Zola", "emile zola"),
    ("Lucía Gómez", "lucia gomez"),
    ("noah kim", "noah kim"),
)

# The status rank: the STATUS sort's order.
RANK = {"PENDING": 1, "SENT": 2, "FAILED": 3, "DELIVERED": 4, "READ": 5}
# Meta's failure codes of the recipients whose message failed (fate 5).
FAILED_CODES = (131026, 131049, 131050, 131048)
REJECTED_CODE = 131009
# A delivery that came after a failure supersedes it (fate 7).
SUPERSEDED_CODE = 131026

TABLE = """
query ($id: ID!, $status: RecipientStatus, $search: String,
       $sort: RecipientSort, $category: String, $after: String) {
  campaign(id: $id) {
    recipients(status: $status, search: $search, sort: $sort,
               failureCategory: $category, first: 7, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node {
        phone name status wamid sentAt deliveredAt readAt failedAt
        failure { code category }
      } }
    }
  }
}
"""


def iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds_of(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def phone(n: int, prefix: str = "1650555") -> str:
    return f"{prefix}{n:04d}"


def category(code: int) -> str:
    return failures.lookup(code, "").category.value


@dataclass(frozen=True)
class Row:
    """What the table must show of one recipient."""

    # The order the recipient was added in: ties are broken by it.
    n: int
    phone: str
    name: str
    plain_name: str
    status: str
    wamid: str | None = None
    sent_at: int | None = None
    delivered_at: int | None = None
    read_at: int | None = None
    failed_at: int | None = None
    failure_code: int | None = None

    @property
    def failure_category(self) -> str | None:
        if self.failure_code is None:
            return None
        return category(self.failure_code)

    def node(self) -> dict[str, Any]:
        failure = None
        if self.failure_code is not None:
            failure = {"code": self.failure_code, "category": self.failure_category}
        return {
            "phone": self.phone,
            "name": self.name or None,
            "status": self.status,
            "wamid": self.wamid,
            "sentAt": iso(self.sent_at),
            "deliveredAt": iso(self.delivered_at),
            "readAt": iso(self.read_at),
            "failedAt": iso(self.failed_at),
            "failure": failure,
        }


def called_at(n: int) -> int:
    """When the send call for n was made: four recipients a second."""
    return T0 + n // 4


def delivered_at(n: int) -> int:
    return T0 + 600 + n % 7


def read_at(n: int) -> int:
    return T0 + 1200 + n % 5


def failed_at(n: int) -> int:
    return T0 + 300 + n % 3


def meta_sent_at(n: int) -> int:
    return T0 + 60 + n % 6 if n % 10 == 8 else called_at(n) + 2


def truth(n: int) -> Row:
    """Recipient n's row; n % 10 is its fate, times repeat for ties.

    0 pending; 1 sent; 2 delivered; 3 read; 4 read with no delivered
    status; 5 failed with one of FAILED_CODES; 6 refused by the send
    call; 7 failed, then delivered; 8 delivered, and Meta's `sent`
    status brought its own time; 9 sent, with Meta's `sent` too.
    """
    name, plain_name = NAMES[n % len(NAMES)]
    fate = n % 10
    pending = Row(n, phone(n), name, plain_name, "PENDING")
    if fate == 0:
        return pending
    if fate == 6:
        return replace(
            pending,
            status="FAILED",
            sent_at=called_at(n),
            failed_at=called_at(n),
            failure_code=REJECTED_CODE,
        )

    sent = replace(
        pending,
        status="SENT",
        wamid=f"wamid.table-{n}",
        sent_at=meta_sent_at(n) if fate in (8, 9) else called_at(n),
    )
    if fate in (2, 7, 8):
        delivered = replace(sent, status="DELIVERED", delivered_at=delivered_at(n))
        return replace(delivered, failed_at=failed_at(n)) if fate == 7 else delivered
    if fate == 3:
        return replace(
            sent, status="READ", delivered_at=delivered_at(n), read_at=read_at(n)
        )
    if fate == 4:
        return replace(sent, status="READ", read_at=read_at(n))
    if fate == 5:
        code = FAILED_CODES[n // 10 % len(FAILED_CODES)]
        return replace(sent, status="FAILED", failed_at=failed_at(n), failure_code=code)
    return sent


ROWS = [truth(n) for n in range(SIZE)]


# -- building the campaign the way the sender and Meta do --------------


def create_campaign(stack: Stack, phones: list[str], names: list[str]) -> str:
    with stack.channel("metrics") as channel:
        stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = stub.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Recipients table",
                phone_number_id=NUMBER,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        stub.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[
                    mpb.Recipient(phone=p, name=name)
                    for p, name in zip(phones, names, strict=True)
                ],
            ),
            timeout=10,
        )
    return str(campaign.id)


def record_sends(stack: Stack, campaign_id: str, sends: list[mpb.Send]) -> None:
    with stack.channel("metrics") as channel:
        stub = metrics_pb2_grpc.MetricsServiceStub(channel)
        stub.RecordSends(
            mpb.RecordSendsRequest(campaign_id=campaign_id, sends=sends),
            timeout=10,
        )


def send(p: str, wamid: str, at: int, error_code: int = 0) -> mpb.Send:
    return mpb.Send(
        phone=p,
        wamid=wamid,
        sent_at=Timestamp(seconds=at),
        error_code=error_code,
        error_title="Meta said no" if error_code else "",
    )


def post_statuses(stack: Stack, statuses: list[webhooks.JSON]) -> None:
    body = webhooks.body(
        waba_id="200000000000321",
        phone_number_id=NUMBER,
        display_phone_number="16505559999",
        statuses=statuses,
    )
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text


def status(row: Row, value: str, at: int, code: int = 0) -> webhooks.JSON:
    assert row.wamid is not None
    title = "Message failed" if code else ""
    return webhooks.status(
        row.wamid, value, at, row.phone, error_code=code, error_title=title
    )


@pytest.fixture(scope="module")
def campaign(stack: Stack, servers: Servers) -> str:
    """ROWS, registered over gRPC, their statuses posted as webhooks.

    Reads and failures come first, deliveries and Meta's `sent` after,
    as Meta's out-of-order deliveries do.
    """
    reset_data(servers)
    # One batch in the order of the phones, so that the order added (the
    # tie-breaker) is n.
    campaign_id = create_campaign(
        stack, [row.phone for row in ROWS], [row.name for row in ROWS]
    )
    sends = [
        send(row.phone, f"wamid.table-{row.n}", called_at(row.n))
        for row in ROWS
        if row.n % 10 not in (0, 6)
    ]
    rejected = [
        send(row.phone, "", called_at(row.n), REJECTED_CODE)
        for row in ROWS
        if row.n % 10 == 6
    ]
    record_sends(stack, campaign_id, sends + rejected)

    early = []
    late = []
    for row in ROWS:
        fate = row.n % 10
        if row.read_at is not None:
            early.append(status(row, "read", row.read_at))
        if fate == 5:
            early.append(status(row, "failed", failed_at(row.n), row.failure_code or 0))
        if fate == 7:
            early.append(status(row, "failed", failed_at(row.n), SUPERSEDED_CODE))
        if row.delivered_at is not None:
            late.append(status(row, "delivered", row.delivered_at))
        if fate in (8, 9):
            late.append(status(row, "sent", meta_sent_at(row.n)))
    post_statuses(stack, early)
    post_statuses(stack, late)
    return campaign_id


# -- walking the table --------------------------------------------------


def walk(
    stack: Stack,
    api_key: str,
    campaign_id: str,
    between: Callable[[], None] = lambda: None,
    **variables: Any,
) -> Iterator[dict[str, Any]]:
    """Every page of the table, `first: 7` at a time, after endCursor.

    Calls between() after each page but the last.
    """
    after = None
    while True:
        data = stack.graphql(TABLE, api_key, id=campaign_id, after=after, **variables)
        page = data["campaign"]["recipients"]
        yield page
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]
        between()


def table(
    stack: Stack, api_key: str, campaign_id: str, **variables: Any
) -> list[dict[str, Any]]:
    """All the rows, checking on the way that each page is whole."""
    pages = list(walk(stack, api_key, campaign_id, **variables))
    nodes = [edge["node"] for page in pages for edge in page["edges"]]

    assert {page["totalCount"] for page in pages} == {len(nodes)}
    assert [len(page["edges"]) for page in pages[:-1]] == [FIRST] * (len(pages) - 1)
    assert len(pages[-1]["edges"]) <= FIRST
    return nodes


def ordered(rows: list[Row], sort: str) -> list[Row]:
    """rows in the sort's order: by the value then the order added, both
    in the sort's direction, recipients without a value last."""
    column = sort.removesuffix("_DESC")
    descending = sort.endswith("_DESC")

    def value(row: Row) -> int | None:
        if column == "STATUS":
            return RANK[row.status]
        return {
            "SENT_AT": row.sent_at,
            "DELIVERED_AT": row.delivered_at,
            "READ_AT": row.read_at,
        }[column]

    valued = [row for row in rows if value(row) is not None]
    unvalued = [row for row in rows if value(row) is None]
    valued.sort(key=lambda row: (value(row), row.n), reverse=descending)
    unvalued.sort(key=lambda row: row.n, reverse=descending)
    return valued + unvalued


# -- filters --------------------------------------------------------------

FILTERS: list[tuple[str, dict[str, str], Callable[[Row], bool]]] = [
    *[
        (f"status={value}", {"status": value}, lambda r, v=value: r.status == v)
        for value in RANK
    ],
    *[
        (
            f"failureCategory={name}",
            {"category": name},
            lambda r, c=name: r.status == "FAILED" and r.failure_category == c,
        )
        for name in sorted(
            {category(code) for code in (*FAILED_CODES, REJECTED_CODE)}
            | {"template_unavailable"}
        )
    ],
]


@pytest.mark.parametrize(
    ("variables", "matches"),
    [(variables, matches) for _, variables, matches in FILTERS],
    ids=[name for name, _, _ in FILTERS],
)
def test_a_filter_pages_out_exactly_its_rows_in_the_order_added(
    stack: Stack,
    api_key: str,
    campaign: str,
    variables: dict[str, str],
    matches: Callable[[Row], bool],
) -> None:
    expected = [row.node() for row in ROWS if matches(row)]

    assert table(stack, api_key, campaign, **variables) == expected


def test_every_status_and_failure_category_filtered_has_rows_to_find() -> None:
    failed = [row for row in ROWS if row.status == "FAILED"]

    assert {row.status for row in ROWS} == set(RANK)
    assert {row.failure_category for row in failed} == {
        category(code) for code in (*FAILED_CODES, REJECTED_CODE)
    }


# -- search -------------------------------------------------------------

# What is typed, and what it must match: part of the phone's digits, or
# part of the name without accents and case.
SEARCHES = [
    ("1650555012", "phone", "1650555012"),
    ("+1650555012", "phone", "1650555012"),
    ("+1 650 555 012", "phone", "1650555012"),
    ("1-650-555-02", "phone", "165055502"),
    ("(650) 555-0099", "phone", "6505550099"),
    ("[555] 00.9", "phone", "555009"),
    ("99", "phone", "99"),
    ("JOSE", "name", "jose"),
    ("José", "name", "jose"),
    ("núñez", "name", "nunez"),
    ("jose nu", "name", "jose nu"),
    ("MARÍA", "name", "maria"),
    ("zoe", "name", "zoe"),
    ("Ólafs", "name", "olafs"),
    ("ois", "name", "ois"),
    ("  Noah   KIM ", "name", "noah kim"),
    # The last three match nothing: a LIKE wildcard is a plain character.
    ("+44 20 7946", "phone", "44207946"),
    ("%", "name", "%"),
    ("xyz", "name", "xyz"),
]


@pytest.mark.parametrize(
    ("text", "kind", "needle"), SEARCHES, ids=[text for text, _, _ in SEARCHES]
)
def test_a_search_pages_out_exactly_its_matches_in_the_order_added(
    stack: Stack, api_key: str, campaign: str, text: str, kind: str, needle: str
) -> None:
    def matches(row: Row) -> bool:
        return needle in (row.phone if kind == "phone" else row.plain_name)

    expected = [row.node() for row in ROWS if matches(row)]

    assert table(stack, api_key, campaign, search=text) == expected


def test_each_search_but_the_last_three_has_matches_to_find() -> None:
    found = [
        any(needle in (r.phone if kind == "phone" else r.plain_name) for r in ROWS)
        for _, kind, needle in SEARCHES
    ]

    assert found == [True] * (len(SEARCHES) - 3) + [False] * 3


COUNTED = """
query ($id: ID!, $search: String) { campaign(id: $id) {
  recipients(search: $search, first: 1) { totalCount totalCountCapped }
} }
"""


def test_a_search_past_a_thousand_matches_says_its_count_stopped_there(
    stack: Stack, api_key: str, campaign: str
) -> None:
    crowd = create_campaign(
        stack,
        [phone(n, prefix="1650556") for n in range(1001)],
        [f"Ann {n}" for n in range(1001)],
    )

    counted = stack.graphql(COUNTED, api_key, id=crowd, search="ann")
    exact = stack.graphql(COUNTED, api_key, id=campaign, search="jose")

    assert counted["campaign"]["recipients"] == {
        "totalCount": 1000,
        "totalCountCapped": True,
    }
    assert exact["campaign"]["recipients"] == {
        "totalCount": sum("jose" in row.plain_name for row in ROWS),
        "totalCountCapped": False,
    }


# -- sorts --------------------------------------------------------------

SORTS = [
    f"{column}{way}"
    for column in ("SENT_AT", "DELIVERED_AT", "READ_AT", "STATUS")
    for way in ("", "_DESC")
]


@pytest.mark.parametrize("sort", SORTS)
def test_a_sort_pages_out_every_row_in_order_ties_by_order_added(
    stack: Stack, api_key: str, campaign: str, sort: str
) -> None:
    expected = [row.node() for row in ordered(ROWS, sort)]

    assert table(stack, api_key, campaign, sort=sort) == expected


COMBINED: list[tuple[dict[str, str], Callable[[Row], bool]]] = [
    ({"status": "READ", "sort": "READ_AT_DESC"}, lambda r: r.status == "READ"),
    (
        {"status": "DELIVERED", "sort": "DELIVERED_AT"},
        lambda r: r.status == "DELIVERED",
    ),
    (
        {"category": "not_on_whatsapp", "sort": "SENT_AT_DESC"},
        lambda r: r.status == "FAILED" and r.failure_category == "not_on_whatsapp",
    ),
    ({"search": "JOSÉ", "sort": "SENT_AT"}, lambda r: "jose" in r.plain_name),
    (
        {"search": "+1 650 555 01", "sort": "STATUS_DESC"},
        lambda r: "65055501" in r.phone,
    ),
    (
        {"search": "maria", "status": "FAILED", "sort": "READ_AT"},
        lambda r: "maria" in r.plain_name and r.status == "FAILED",
    ),
]


@pytest.mark.parametrize(
    ("variables", "matches"),
    COMBINED,
    ids=["&".join(f"{k}={v}" for k, v in c[0].items()) for c in COMBINED],
)
def test_a_filter_and_a_sort_together_page_out_the_sorted_matches(
    stack: Stack,
    api_key: str,
    campaign: str,
    variables: dict[str, str],
    matches: Callable[[Row], bool],
) -> None:
    rows = ordered([row for row in ROWS if matches(row)], variables["sort"])

    assert table(stack, api_key, campaign, **variables) == [r.node() for r in rows]


# -- paging while statuses arrive ----------------------------------------

LIVE = 84


@dataclass
class Live:
    """A campaign whose statuses are still arriving, and what arrived."""

    campaign_id: str
    rows: list[Row]
    # How many statuses were posted for each phone during the walk.
    events: Counter[str]


@pytest.fixture
def live(stack: Stack) -> Live:
    """LIVE recipients, all sent (four a second), every third delivered."""
    phones = [phone(n, prefix="1650556") for n in range(LIVE)]
    campaign_id = create_campaign(stack, phones, [""] * LIVE)
    rows = [
        Row(
            n,
            p,
            "",
            "",
            "DELIVERED" if n % 3 == 0 else "SENT",
            wamid=f"wamid.live-{campaign_id}-{n}",
            sent_at=called_at(n),
            delivered_at=T0 + 500 + n % 4 if n % 3 == 0 else None,
        )
        for n, p in enumerate(phones)
    ]
    record_sends(
        stack,
        campaign_id,
        [send(row.phone, row.wamid or "", called_at(row.n)) for row in rows],
    )
    post_statuses(
        stack,
        [
            status(row, "delivered", row.delivered_at)
            for row in rows
            if row.delivered_at is not None
        ],
    )
    return Live(campaign_id, rows, Counter())


def statuses_arrive(stack: Stack, live: Live) -> Callable[[], None]:
    """A step that posts the next status of four recipients at random,
    behind the walk or ahead of it: delivered, then read."""
    rng = random.Random(7)
    steps = iter(range(1, 1000))

    def step() -> None:
        at = T0 + 1000 + next(steps)
        posted = []
        for n in rng.sample(range(LIVE), 4):
            row = live.rows[n]
            if row.status == "SENT":
                live.rows[n] = replace(row, status="DELIVERED", delivered_at=at)
                posted.append(status(row, "delivered", at))
            elif row.status == "DELIVERED":
                live.rows[n] = replace(row, status="READ", read_at=at)
                posted.append(status(row, "read", at))
            else:
                continue
            live.events[row.phone] += 1
        if posted:
            post_statuses(stack, posted)

    return step


def shown_key(node: dict[str, Any], sort: str, n: int) -> tuple[int, int, int]:
    """A row's place in the sort as its page showed it, ascending."""
    column = sort.removesuffix("_DESC")
    sign = -1 if sort.endswith("_DESC") else 1
    if column == "STATUS":
        value: int | None = RANK[node["status"]]
    else:
        field = {"SENT_AT": "sentAt", "DELIVERED_AT": "deliveredAt"}.get(
            column, "readAt"
        )
        value = seconds_of(node[field])
    if value is None:
        return (1, 0, sign * n)
    return (0, sign * value, sign * n)


def walk_while_statuses_arrive(
    stack: Stack, api_key: str, live: Live, sort: str
) -> list[dict[str, Any]]:
    pages = walk(
        stack,
        api_key,
        live.campaign_id,
        between=statuses_arrive(stack, live),
        sort=sort,
    )
    nodes = [edge["node"] for page in pages for edge in page["edges"]]
    assert sum(live.events.values()) > LIVE // 4, "too few statuses arrived"
    return nodes


@pytest.mark.parametrize("sort", ["SENT_AT", "SENT_AT_DESC"])
def test_paging_by_sent_at_while_statuses_arrive_sees_each_row_once_in_order(
    stack: Stack, api_key: str, live: Live, sort: str
) -> None:
    # Delivered and read statuses never move sentAt, so the walk must be
    # the table's order, every recipient exactly once.
    nodes = walk_while_statuses_arrive(stack, api_key, live, sort)

    assert [node["phone"] for node in nodes] == [
        row.phone for row in ordered(live.rows, sort)
    ]


@pytest.mark.parametrize(
    "sort", ["STATUS", "STATUS_DESC", "DELIVERED_AT", "DELIVERED_AT_DESC"]
)
def test_paging_by_a_key_that_moves_keeps_the_keyset_promise(
    stack: Stack, api_key: str, live: Live, sort: str
) -> None:
    # The promise of keyset paging over a table that changes: each page
    # starts after the key where the last one ended, so the keys shown
    # only ever grow; a recipient whose key never changed during the walk
    # is seen exactly once; one whose key changed k times may be missed,
    # or seen at most k + 1 times (once per place it was in).
    number = {row.phone: row.n for row in live.rows}

    nodes = walk_while_statuses_arrive(stack, api_key, live, sort)
    keys = [shown_key(node, sort, number[node["phone"]]) for node in nodes]
    seen = Counter(node["phone"] for node in nodes)

    assert all(a < b for a, b in pairwise(keys))
    assert {p: seen[p] for p in number if not live.events[p]} == {
        p: 1 for p in number if not live.events[p]
    }
    assert all(seen[p] <= 1 + live.events[p] for p in number)
