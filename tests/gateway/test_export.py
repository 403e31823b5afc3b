"""GET /campaigns/{id}/recipients.csv through the running stack."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.metrics.helpers import Metrics, at, status
from tests.stack import Stack
from xobito import failures

WORKSPACE = "test"
# More than two pages of the export's 500 rows.
SIZE = 1100
NOT_ON_WHATSAPP = 131026
META_TITLE = "Message undeliverable"

HEADER = [
    "phone", "name", "status", "wamid",
    "sent_at", "delivered_at", "read_at", "failed_at", "replied_at",
    "opted_out_at",
    "failure_code", "failure_category", "failure_title", "failure_action",
    "failure_retryable", "timeline",
]  # fmt: skip


def iso(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def phone(n: int) -> str:
    return f"1650557{n:04d}"


def name(n: int) -> str:
    # Commas, quotes and accents must survive the CSV.
    return f'Zoë "{n}", Núñez' if n % 7 == 0 else f"Ann {n}"


def expected_row(n: int) -> dict[str, str]:
    """What the export must say of recipient n (see `campaign`)."""
    fate = n % 5
    row = dict.fromkeys(HEADER, "")
    row.update(phone=phone(n), name=name(n), status="PENDING")
    if fate == 0:
        return row
    row.update(status="SENT", wamid=f"wamid.x{n}", sent_at=iso(n))
    if fate == 2:
        row.update(status="DELIVERED", delivered_at=iso(2000 + n))
        row["timeline"] = f"DELIVERED@{iso(2000 + n)}"
    if fate == 3:
        row.update(status="READ", delivered_at=iso(2000 + n), read_at=iso(3000 + n))
        row["timeline"] = f"DELIVERED@{iso(2000 + n)} READ@{iso(3000 + n)}"
    if fate == 4:
        info = failures.lookup(NOT_ON_WHATSAPP, META_TITLE)
        row.update(
            status="FAILED",
            failed_at=iso(4000 + n),
            failure_code=str(NOT_ON_WHATSAPP),
            failure_category=info.category.value,
            failure_title=info.title,
            failure_action=info.action,
            failure_retryable=str(info.retryable).lower(),
            timeline=f"FAILED@{iso(4000 + n)}",
        )
    return row


@pytest.fixture
def metrics(stack: Stack, clean: None) -> Iterator[Metrics]:
    with stack.channel("metrics") as channel:
        yield Metrics(channel, stack.servers)


@pytest.fixture
def campaign(metrics: Metrics) -> str:
    """SIZE recipients; n % 5 says their fate: pending, sent, delivered,
    read, failed."""
    campaign_id = metrics.create(workspace=WORKSPACE).id
    metrics.add(campaign_id, *[(phone(n), name(n)) for n in range(SIZE)])
    sent = [n for n in range(SIZE) if n % 5]
    metrics.send(campaign_id, *[(phone(n), f"wamid.x{n}", n) for n in sent])
    metrics.record(
        *[
            status(f"wamid.x{n}", "delivered", 2000 + n, workspace=WORKSPACE)
            for n in sent
            if n % 5 in (2, 3)
        ],
        *[
            status(f"wamid.x{n}", "read", 3000 + n, workspace=WORKSPACE)
            for n in sent
            if n % 5 == 3
        ],
        *[
            status(
                f"wamid.x{n}",
                "failed",
                4000 + n,
                code=NOT_ON_WHATSAPP,
                title=META_TITLE,
                workspace=WORKSPACE,
            )
            for n in sent
            if n % 5 == 4
        ],
    )
    return campaign_id


def export(
    stack: Stack, campaign_id: str, api_key: str | None, **params: str
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return stack.http.get(
        f"{stack.gateway_url}/campaigns/{campaign_id}/recipients.csv",
        params=params,
        headers=headers,
        timeout=30,
    )


def rows(reply: httpx.Response) -> list[dict[str, Any]]:
    assert reply.status_code == 200, reply.text
    reader = csv.DictReader(io.StringIO(reply.content.decode("utf-8")))
    assert reader.fieldnames == HEADER
    return list(reader)


def test_the_export_holds_every_recipient_with_every_column(
    stack: Stack, api_key: str, campaign: str
) -> None:
    reply = export(stack, campaign, api_key)

    assert rows(reply) == [expected_row(n) for n in range(SIZE)]


def test_the_export_is_a_utf8_csv_attachment(
    stack: Stack, api_key: str, campaign: str
) -> None:
    reply = export(stack, campaign, api_key, status="PENDING")

    assert reply.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = reply.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert ".csv" in disposition


def test_the_export_honours_the_status_filter(
    stack: Stack, api_key: str, campaign: str
) -> None:
    reply = export(stack, campaign, api_key, status="read")

    assert rows(reply) == [expected_row(n) for n in range(SIZE) if n % 5 == 3]


def test_the_export_honours_the_failure_category_and_search(
    stack: Stack, api_key: str, campaign: str
) -> None:
    reply = export(
        stack,
        campaign,
        api_key,
        failureCategory="not_on_whatsapp",
        search="+1 650-557-00",
    )

    assert rows(reply) == [expected_row(n) for n in range(100) if n % 5 == 4]


def test_an_export_without_a_key_is_unauthorized(stack: Stack, campaign: str) -> None:
    assert export(stack, campaign, None).status_code == 401


def test_an_export_with_a_wrong_key_is_unauthorized(
    stack: Stack, campaign: str
) -> None:
    assert export(stack, campaign, "not-a-key").status_code == 401


def test_an_unknown_campaign_is_not_found(stack: Stack, api_key: str) -> None:
    assert export(stack, "no-such-campaign", api_key).status_code == 404


def test_another_workspace_s_campaign_is_not_found(
    stack: Stack, api_key: str, metrics: Metrics
) -> None:
    foreign = metrics.create(workspace="someone-else", number="100000000000099").id

    assert export(stack, foreign, api_key).status_code == 404


def test_an_unknown_filter_value_is_a_bad_request(
    stack: Stack, api_key: str, campaign: str
) -> None:
    assert export(stack, campaign, api_key, status="LOST").status_code == 400
    assert export(stack, campaign, api_key, failureCategory="x").status_code == 400


@pytest.mark.parametrize(
    "dangerous",
    ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(1)", "\tx"],
)
def test_a_name_a_spreadsheet_would_run_is_exported_as_text(
    stack: Stack, metrics: Metrics, api_key: str, dangerous: str
) -> None:
    campaign_id = metrics.create(workspace=WORKSPACE).id
    metrics.add(campaign_id, (phone(1), dangerous), (phone(2), "Ann - Bob"))

    names = [row["name"] for row in rows(export(stack, campaign_id, api_key))]

    assert names == ["'" + dangerous, "Ann - Bob"]
