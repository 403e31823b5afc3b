"""The recipient table: filters, search, sorts and pages."""

from __future__ import annotations

from datetime import datetime

import grpc
import pytest

from services.metrics import cursors
from services.metrics.recipients import SEARCH_COUNT_LIMIT
from tests.metrics.helpers import WORKSPACE, Metrics, status
from xobito.metrics.v1 import metrics_pb2 as pb

NAMES = ["José Núñez", "Zoë Brown", "Ann", "Jose Maria", "Bob", "Éva"]
SIZE = 24
FAILING = (2, 5, 8)


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """24 recipients: some pending, some failed, timestamps shared."""
    campaign_id = metrics.create().id
    phones = [f"1650555{n:04d}" for n in range(SIZE)]
    metrics.add(
        campaign_id, *[(p, NAMES[n % len(NAMES)]) for n, p in enumerate(phones)]
    )
    # Every third recipient stays pending; the times repeat, so ties.
    metrics.send(
        campaign_id,
        *[(p, f"wamid.{n}", n % 4) for n, p in enumerate(phones) if n % 3],
    )
    metrics.record(
        *[
            status(f"wamid.{n}", "delivered", 10 + n % 5)
            for n in range(SIZE)
            if n % 3 and n not in FAILING
        ],
        *[status(f"wamid.{n}", "read", 20 + n % 2) for n in range(SIZE) if n % 6 == 1],
        *[
            status(f"wamid.{n}", "failed", 7, code=131049 if n % 2 else 131026)
            for n in FAILING
        ],
    )
    metrics.reject(campaign_id, phones[3], 131009)
    return campaign_id


def _time(row: pb.RecipientRow, field: str) -> datetime | None:
    if not row.HasField(field):  # type: ignore[arg-type]
        return None
    value: datetime = getattr(row, field).ToDatetime()
    return value


SORTS = {
    pb.RECIPIENT_SORT_SENT_AT: ("sent_at", False),
    pb.RECIPIENT_SORT_SENT_AT_DESC: ("sent_at", True),
    pb.RECIPIENT_SORT_DELIVERED_AT: ("delivered_at", False),
    pb.RECIPIENT_SORT_DELIVERED_AT_DESC: ("delivered_at", True),
    pb.RECIPIENT_SORT_READ_AT: ("read_at", False),
    pb.RECIPIENT_SORT_READ_AT_DESC: ("read_at", True),
    pb.RECIPIENT_SORT_STATUS: ("status", False),
    pb.RECIPIENT_SORT_STATUS_DESC: ("status", True),
}


@pytest.mark.parametrize("sort", list(SORTS), ids=pb.RecipientSort.Name)
def test_every_sort_pages_through_every_row_once_in_order(
    metrics: Metrics, campaign: str, sort: pb.RecipientSort.ValueType
) -> None:
    added = [row.phone for row in metrics.rows(campaign, page_size=100)]
    field, descending = SORTS[sort]

    paged = metrics.rows(campaign, sort=sort, page_size=5)

    def key(row: pb.RecipientRow) -> tuple[object, ...]:
        position = added.index(row.phone)
        value = row.status if field == "status" else _time(row, field)
        if value is None:  # nulls last, either way
            return (1, 0, -position if descending else position)
        if descending:
            return (0, -_number(value), -position)
        return (0, _number(value), position)

    assert len(paged) == SIZE
    assert [row.phone for row in paged] == [row.phone for row in sorted(paged, key=key)]


def _number(value: object) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)  # type: ignore[arg-type]


def test_the_status_filter_returns_that_status_only(
    metrics: Metrics, campaign: str
) -> None:
    failed = metrics.rows(campaign, status=pb.RECIPIENT_STATUS_FAILED, page_size=2)

    assert sorted(row.phone for row in failed) == [
        "16505550002", "16505550003", "16505550005", "16505550008",
    ]  # fmt: skip
    assert {row.status for row in failed} == {pb.RECIPIENT_STATUS_FAILED}


def test_a_search_of_letters_matches_names_without_accents(
    metrics: Metrics, campaign: str
) -> None:
    found = metrics.rows(campaign, search="JOSE", page_size=3)

    assert {row.name for row in found} == {"José Núñez", "Jose Maria"}
    assert len(found) == 8


def test_a_search_of_digits_matches_part_of_the_phone(
    metrics: Metrics, campaign: str
) -> None:
    found = metrics.rows(campaign, search="+1 650-555-001")

    assert sorted(row.phone for row in found) == [
        f"165055500{n}" for n in range(10, 20)
    ]


def test_the_total_counts_the_matches_not_the_page(
    metrics: Metrics, campaign: str
) -> None:
    page = metrics.stub.ListRecipients(
        pb.ListRecipientsRequest(
            workspace_id=WORKSPACE,
            campaign_id=campaign,
            status=pb.RECIPIENT_STATUS_PENDING,
            page_size=2,
        )
    )

    assert (len(page.recipients), page.total_count) == (2, 7)
    assert page.next_page_token


def test_a_token_of_another_sort_is_refused(metrics: Metrics, campaign: str) -> None:
    page = metrics.stub.ListRecipients(
        pb.ListRecipientsRequest(
            workspace_id=WORKSPACE, campaign_id=campaign, page_size=2
        )
    )

    with pytest.raises(grpc.RpcError) as failure:
        metrics.stub.ListRecipients(
            pb.ListRecipientsRequest(
                workspace_id=WORKSPACE,
                campaign_id=campaign,
                sort=pb.RECIPIENT_SORT_READ_AT,
                page_token=page.next_page_token,
            )
        )

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        (pb.RECIPIENT_SORT_UNSPECIFIED, ["ADDED", 3, True]),
        (pb.RECIPIENT_SORT_SENT_AT, ["SENT_AT", None, True]),
        (pb.RECIPIENT_SORT_STATUS, ["STATUS", 2**70, 1]),
        (pb.RECIPIENT_SORT_SENT_AT, ["SENT_AT", "2026-03-02T10:00:00", 1]),
    ],
)
def test_a_tampered_token_is_refused_before_it_reaches_the_database(
    metrics: Metrics,
    campaign: str,
    sort: pb.RecipientSort.ValueType,
    key: list[object],
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        metrics.stub.ListRecipients(
            pb.ListRecipientsRequest(
                workspace_id=WORKSPACE,
                campaign_id=campaign,
                sort=sort,
                page_token=cursors.encode(*key),
            )
        )

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_failure_reasons_group_failed_recipients_by_code(
    metrics: Metrics, campaign: str
) -> None:
    reasons = metrics.stub.ListFailureReasons(
        pb.ListFailureReasonsRequest(workspace_id=WORKSPACE, campaign_id=campaign)
    ).reasons

    assert [(r.code, r.category, r.count) for r in reasons] == [
        (131026, "not_on_whatsapp", 2),
        (131009, "invalid_number", 1),
        (131049, "marketing_frequency_cap", 1),
    ]
    assert all(r.title and r.action for r in reasons)


@pytest.mark.parametrize(
    "status",
    [
        pb.RECIPIENT_STATUS_UNSPECIFIED,
        pb.RECIPIENT_STATUS_PENDING,
        pb.RECIPIENT_STATUS_SENT,
        pb.RECIPIENT_STATUS_FAILED,
        pb.RECIPIENT_STATUS_DELIVERED,
        pb.RECIPIENT_STATUS_READ,
    ],
)
def test_the_total_of_each_status_counts_its_rows(
    metrics: Metrics, campaign: str, status: int
) -> None:
    def page() -> pb.ListRecipientsResponse:
        return metrics.stub.ListRecipients(
            pb.ListRecipientsRequest(
                workspace_id=WORKSPACE,
                campaign_id=campaign,
                status=status,  # type: ignore[arg-type]
                page_size=500,
            )
        )

    first = page()

    assert first.total_count == len(first.recipients)
    assert first.total_count == len(
        [r for r in metrics.rows(campaign) if status in (0, r.status)]
    )


@pytest.fixture
def crowd(metrics: Metrics) -> str:
    """A campaign of exactly SEARCH_COUNT_LIMIT recipients named Ann."""
    campaign_id = metrics.create().id
    metrics.add(
        campaign_id,
        *[(f"1650556{n:04d}", f"Ann {n}") for n in range(SEARCH_COUNT_LIMIT)],
    )
    return campaign_id


def search_page(
    metrics: Metrics, campaign_id: str, text: str
) -> pb.ListRecipientsResponse:
    return metrics.stub.ListRecipients(
        pb.ListRecipientsRequest(
            workspace_id=WORKSPACE, campaign_id=campaign_id, search=text, page_size=5
        )
    )


def test_a_search_counts_every_match_up_to_the_limit(
    metrics: Metrics, crowd: str
) -> None:
    page = search_page(metrics, crowd, "ann")

    assert (page.total_count, page.total_count_capped) == (SEARCH_COUNT_LIMIT, False)


def test_a_search_past_the_limit_counts_to_it_and_says_more_match(
    metrics: Metrics, crowd: str
) -> None:
    metrics.add(crowd, ("16505570000", "Jo Annsen"))

    page = search_page(metrics, crowd, "ann")

    assert (page.total_count, page.total_count_capped) == (SEARCH_COUNT_LIMIT, True)
    assert len(page.recipients) == 5


def test_a_search_pages_through_its_matches_in_the_order_added(
    metrics: Metrics, campaign: str
) -> None:
    added = [row.phone for row in metrics.rows(campaign, page_size=100)]

    found = metrics.rows(campaign, search="1650555", page_size=5)

    assert [row.phone for row in found] == added


def test_every_page_of_a_search_shows_the_same_total(
    metrics: Metrics, campaign: str
) -> None:
    request = pb.ListRecipientsRequest(
        workspace_id=WORKSPACE, campaign_id=campaign, search="jose", page_size=3
    )
    first = metrics.stub.ListRecipients(request)
    request.page_token = first.next_page_token
    second = metrics.stub.ListRecipients(request)

    assert (first.total_count, second.total_count) == (8, 8)
    assert not {r.phone for r in first.recipients} & {
        r.phone for r in second.recipients
    }


def test_a_search_past_the_limit_pages_on_past_it(metrics: Metrics, crowd: str) -> None:
    metrics.add(crowd, ("16505570000", "Jo Annsen"))
    request = pb.ListRecipientsRequest(
        workspace_id=WORKSPACE, campaign_id=crowd, search="ann", page_size=500
    )

    pages = [metrics.stub.ListRecipients(request)]
    while pages[-1].next_page_token:
        request.page_token = pages[-1].next_page_token
        pages.append(metrics.stub.ListRecipients(request))

    phones = [row.phone for page in pages for row in page.recipients]
    assert len(phones) == len(set(phones)) == SEARCH_COUNT_LIMIT + 1
    assert phones[-1] == "16505570000"
    assert {page.total_count_capped for page in pages} == {True}


def test_a_search_of_another_workspaces_campaign_is_not_found(
    metrics: Metrics, campaign: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        metrics.stub.ListRecipients(
            pb.ListRecipientsRequest(
                workspace_id="someone-else", campaign_id=campaign, search="jose"
            )
        )

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("search", ["", "1650555"])
def test_rows_asked_without_timelines_are_the_same_rows_without_them(
    metrics: Metrics, campaign: str, search: str
) -> None:
    full = metrics.rows(campaign, search=search, page_size=5)

    bare = metrics.rows(campaign, search=search, page_size=5, omit_timeline=True)

    assert any(row.timeline for row in full)
    assert not any(row.timeline for row in bare)
    for row in full:
        row.ClearField("timeline")
    assert bare == full


def test_a_search_that_matches_nobody_is_an_empty_page(
    metrics: Metrics, campaign: str
) -> None:
    page = metrics.stub.ListRecipients(
        pb.ListRecipientsRequest(
            workspace_id=WORKSPACE, campaign_id=campaign, search="Quentin"
        )
    )

    assert list(page.recipients) == []
    assert (page.total_count, page.total_count_capped) == (0, False)
