"""Campaign queries: what the gateway asks metrics, and what it shows."""

from __future__ import annotations

from tests.gateway.fakes import BROKEN_ID, UNAVAILABLE_ID, FakeServices, at
from tests.gateway.support import Keys, ask, make_key
from tests.stack import Stack
from xobito.metrics.v1 import metrics_pb2 as mpb

CAMPAIGN = """
query ($id: ID!) {
  campaign(id: $id) {
    id name status recipientTotal templateName phoneNumberId createdAt
    counters { sent delivered read failed replied optedOut
               sentPct deliveredPct readPct failedPct }
    kpis { deliveryRate readRate replyRate warnings }
    failureReasons { code category title action count }
  }
}
"""

RECIPIENTS = """
query ($id: ID!, $first: Int, $after: String) {
  campaign(id: $id) {
    recipients(first: $first, after: $after, status: FAILED, sort: SENT_AT_DESC) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        phone name status wamid sentAt deliveredAt readAt failedAt repliedAt
        failure { code category title action retryable }
        timeline { status at }
      } }
    }
  }
}
"""


def test_a_campaign_shows_its_counters_as_percentages_of_the_total(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign(
        "cmp_pct",
        recipient_total=3,
        counters=mpb.Counters(sent=3, delivered=2, read=1, failed=1, replied=1),
    )

    counters = gateway.graphql(CAMPAIGN, keys.one, id="cmp_pct")["campaign"]["counters"]

    assert counters == {
        "sent": 3,
        "delivered": 2,
        "read": 1,
        "failed": 1,
        "replied": 1,
        "optedOut": 0,
        "sentPct": 100.0,
        "deliveredPct": 66.7,
        "readPct": 33.3,
        "failedPct": 33.3,
    }


def test_a_campaign_shows_its_fields_and_times_in_utc(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_fields", recipient_total=0)

    campaign = gateway.graphql(CAMPAIGN, keys.one, id="cmp_fields")["campaign"]

    assert campaign["id"] == "cmp_fields"
    assert campaign["status"] == "SENDING"
    assert campaign["templateName"] == "spring_sale_2026"
    assert campaign["phoneNumberId"] == "100000000000001"
    assert campaign["createdAt"] == "2026-03-02T09:00:00Z"
    assert campaign["counters"]["sentPct"] == 0


def test_kpis_are_rates_along_the_funnel_with_warnings(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign(
        "cmp_kpis",
        recipient_total=100,
        counters=mpb.Counters(sent=100, delivered=80, read=20, replied=4),
    )

    kpis = gateway.graphql(CAMPAIGN, keys.one, id="cmp_kpis")["campaign"]["kpis"]

    assert kpis["deliveryRate"] == 80.0
    assert kpis["readRate"] == 25.0
    assert kpis["replyRate"] == 5.0
    assert len(kpis["warnings"]) == 2


def test_kpis_are_null_when_nothing_was_sent(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_unsent", recipient_total=5)

    kpis = gateway.graphql(CAMPAIGN, keys.one, id="cmp_unsent")["campaign"]["kpis"]

    assert kpis == {
        "deliveryRate": None,
        "readRate": None,
        "replyRate": None,
        "warnings": [],
    }


def test_failure_reasons_come_from_metrics(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_reasons", recipient_total=2)
    reason = mpb.FailureReason(
        code=131026,
        category="not_on_whatsapp",
        title="Message undeliverable",
        action="Remove the number",
        count=2,
    )
    fakes.metrics.reasons["cmp_reasons"] = [reason]

    campaign = gateway.graphql(CAMPAIGN, keys.one, id="cmp_reasons")["campaign"]

    assert campaign["failureReasons"] == [
        {
            "code": 131026,
            "category": "not_on_whatsapp",
            "title": "Message undeliverable",
            "action": "Remove the number",
            "count": 2,
        }
    ]


def test_an_unknown_campaign_is_null(gateway: Stack, keys: Keys) -> None:
    answer = ask(gateway, keys.one, CAMPAIGN, id="cmp_nowhere")

    assert answer == {"data": {"campaign": None}}


def test_another_workspaces_campaign_is_null(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_theirs", workspace="gw-two")

    answer = ask(gateway, keys.one, CAMPAIGN, id="cmp_theirs")

    assert answer == {"data": {"campaign": None}}


def test_metrics_is_asked_for_the_keys_workspace_only(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_scope", workspace="gw-two")

    gateway.graphql(CAMPAIGN, keys.two, id="cmp_scope")

    asked = [
        request
        for request in fakes.metrics.requests
        if getattr(request, "campaign_id", "") == "cmp_scope"
    ]
    assert asked
    assert {request.workspace_id for request in asked} == {"gw-two"}


def test_a_service_that_is_down_gives_a_retryable_error(
    gateway: Stack, keys: Keys
) -> None:
    answer = ask(gateway, keys.one, CAMPAIGN, id=UNAVAILABLE_ID)

    assert answer["data"] == {"campaign": None}
    assert answer["errors"][0]["message"] == "metrics is unavailable, try again"


def test_an_unexpected_failure_is_masked(gateway: Stack, keys: Keys) -> None:
    answer = ask(gateway, keys.one, CAMPAIGN, id=BROKEN_ID)

    assert answer["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in str(answer)


def failed_recipient(index: int) -> mpb.RecipientRow:
    return mpb.RecipientRow(
        phone=f"1650555{index:04d}",
        name=f"Recipient {index}",
        status=mpb.RECIPIENT_STATUS_FAILED,
        wamid=f"wamid.{index}",
        sent_at=at("2026-03-02T10:00:00Z"),
        failed_at=at("2026-03-02T10:00:02.500Z"),
        failure=mpb.Failure(
            code=131026,
            category="not_on_whatsapp",
            title="Message undeliverable",
            action="Remove the number",
            retryable=False,
        ),
        timeline=[
            mpb.TimelineEntry(status="SENT", at=at("2026-03-02T10:00:00Z")),
            mpb.TimelineEntry(status="FAILED", at=at("2026-03-02T10:00:02.500Z")),
        ],
    )


def test_a_recipient_row_shows_its_times_failure_and_timeline(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_row", recipient_total=1)
    fakes.metrics.recipients["cmp_row"] = [failed_recipient(1)]

    answer = gateway.graphql(RECIPIENTS, keys.one, id="cmp_row")
    node = answer["campaign"]["recipients"]["edges"][0]["node"]

    assert node == {
        "phone": "16505550001",
        "name": "Recipient 1",
        "status": "FAILED",
        "wamid": "wamid.1",
        "sentAt": "2026-03-02T10:00:00Z",
        "deliveredAt": None,
        "readAt": None,
        "failedAt": "2026-03-02T10:00:02.5Z",
        "repliedAt": None,
        "failure": {
            "code": 131026,
            "category": "not_on_whatsapp",
            "title": "Message undeliverable",
            "action": "Remove the number",
            "retryable": False,
        },
        "timeline": [
            {"status": "SENT", "at": "2026-03-02T10:00:00Z"},
            {"status": "FAILED", "at": "2026-03-02T10:00:02.5Z"},
        ],
    }


def test_recipient_filters_and_sort_reach_metrics(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_filters", recipient_total=0)

    gateway.graphql(RECIPIENTS, keys.one, id="cmp_filters", first=7)

    request = next(
        request
        for request in reversed(fakes.metrics.requests)
        if isinstance(request, mpb.ListRecipientsRequest)
        and request.campaign_id == "cmp_filters"
    )
    assert request.status == mpb.RECIPIENT_STATUS_FAILED
    assert request.sort == mpb.RECIPIENT_SORT_SENT_AT_DESC
    assert request.page_size == 7


def test_paging_by_end_cursor_shows_every_recipient_once(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_pages", recipient_total=7)
    fakes.metrics.recipients["cmp_pages"] = [failed_recipient(i) for i in range(7)]

    seen, after, pages = [], None, 0
    while True:
        answer = gateway.graphql(
            RECIPIENTS, keys.one, id="cmp_pages", first=3, after=after
        )
        connection = answer["campaign"]["recipients"]
        seen += [edge["node"]["phone"] for edge in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    assert seen == [f"1650555{i:04d}" for i in range(7)]
    assert pages == 3
    assert connection["totalCount"] == 7


def test_paging_resumes_after_any_edge(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_resume", recipient_total=6)
    fakes.metrics.recipients["cmp_resume"] = [failed_recipient(i) for i in range(6)]
    first = gateway.graphql(RECIPIENTS, keys.one, id="cmp_resume", first=4)
    second_edge = first["campaign"]["recipients"]["edges"][1]

    answer = gateway.graphql(
        RECIPIENTS, keys.one, id="cmp_resume", first=2, after=second_edge["cursor"]
    )

    phones = [e["node"]["phone"] for e in answer["campaign"]["recipients"]["edges"]]
    assert phones == ["16505550002", "16505550003"]


def test_a_forged_cursor_is_a_readable_error(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_forged", recipient_total=0)

    answer = ask(gateway, keys.one, RECIPIENTS, id="cmp_forged", after="not a cursor!")

    assert answer["errors"][0]["message"] == "invalid cursor"


def test_campaigns_lists_the_keys_workspace_only(
    gateway: Stack, keys: Keys, fakes: FakeServices
) -> None:
    fakes.metrics.add_campaign("cmp_listed_a", workspace="gw-list")
    fakes.metrics.add_campaign("cmp_listed_b", workspace="gw-list")
    fakes.metrics.add_campaign("cmp_not_listed", workspace="gw-elsewhere")
    query = "{ campaigns { totalCount edges { node { id } } } }"
    key = make_key(gateway.servers, "gw-list")

    campaigns = gateway.graphql(query, key)["campaigns"]

    assert campaigns["totalCount"] == 2
    assert [e["node"]["id"] for e in campaigns["edges"]] == [
        "cmp_listed_a",
        "cmp_listed_b",
    ]


def test_a_variable_that_does_not_fit_its_type_is_explained(
    gateway: Stack, keys: Keys
) -> None:
    query = "query ($first: Int) { campaigns(first: $first) { totalCount } }"

    answer = ask(gateway, keys.one, query, first=2**31)

    message = answer["errors"][0]["message"]
    assert "Unexpected error" not in message
    assert "$first" in message


def test_an_unknown_enum_value_in_a_variable_is_explained(
    gateway: Stack, keys: Keys
) -> None:
    query = (
        "query ($id: ID!, $s: RecipientStatus) { campaign(id: $id)"
        " { recipients(status: $s) { totalCount } } }"
    )

    answer = ask(gateway, keys.one, query, id="cmp_x", s="EXPLODED")

    message = answer["errors"][0]["message"]
    assert "Unexpected error" not in message
    assert "EXPLODED" in message
