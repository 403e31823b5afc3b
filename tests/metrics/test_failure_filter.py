"""The recipient table filtered by failure category."""

from __future__ import annotations

import grpc
import pytest

from tests.metrics.helpers import WORKSPACE, Metrics, status
from xobito.metrics.v1 import metrics_pb2 as pb

NOT_ON_WHATSAPP = 131026
FREQUENCY_CAP = 131049


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """Ten recipients: 0-3 not on WhatsApp, 4-5 capped, 6 failed then
    delivered, the rest delivered."""
    campaign_id = metrics.create().id
    phones = [f"165055510{n:02d}" for n in range(10)]
    metrics.add(campaign_id, *[(p, f"Ann {n}") for n, p in enumerate(phones)])
    metrics.send(campaign_id, *[(p, f"wamid.f{n}", n) for n, p in enumerate(phones)])
    metrics.record(
        *[
            status(f"wamid.f{n}", "failed", 20 + n, code=NOT_ON_WHATSAPP)
            for n in range(4)
        ],
        *[
            status(f"wamid.f{n}", "failed", 20 + n, code=FREQUENCY_CAP)
            for n in (4, 5, 6)
        ],
        *[status(f"wamid.f{n}", "delivered", 30 + n) for n in range(6, 10)],
    )
    return campaign_id


def test_the_filter_returns_failed_recipients_of_that_category(
    metrics: Metrics, campaign: str
) -> None:
    found = metrics.rows(campaign, failure_category="not_on_whatsapp")

    assert [row.phone for row in found] == [f"165055510{n:02d}" for n in range(4)]
    assert {row.failure.category for row in found} == {"not_on_whatsapp"}


def test_a_failure_superseded_by_a_delivery_is_not_matched(
    metrics: Metrics, campaign: str
) -> None:
    found = metrics.rows(campaign, failure_category="marketing_frequency_cap")

    assert [row.phone for row in found] == ["16505551004", "16505551005"]


def test_the_filter_combines_with_search_sort_and_pages(
    metrics: Metrics, campaign: str
) -> None:
    found = metrics.rows(
        campaign,
        failure_category="not_on_whatsapp",
        search="+1 650-555-100",
        sort=pb.RECIPIENT_SORT_SENT_AT_DESC,
        page_size=1,
    )
    paged = metrics.rows(
        campaign,
        failure_category="not_on_whatsapp",
        sort=pb.RECIPIENT_SORT_SENT_AT_DESC,
        page_size=1,
    )

    assert [row.phone for row in found] == [f"165055510{n:02d}" for n in (3, 2, 1, 0)]
    assert [row.phone for row in paged] == [f"165055510{n:02d}" for n in (3, 2, 1, 0)]


def test_the_total_counts_the_category_only(metrics: Metrics, campaign: str) -> None:
    page = metrics.stub.ListRecipients(
        pb.ListRecipientsRequest(
            workspace_id=WORKSPACE,
            campaign_id=campaign,
            failure_category="not_on_whatsapp",
            page_size=1,
        )
    )

    assert page.total_count == 4


def test_an_unknown_category_is_an_invalid_argument(
    metrics: Metrics, campaign: str
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        metrics.rows(campaign, failure_category="no_such_category")

    assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT
