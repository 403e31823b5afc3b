"""retryFailed end to end: the campaign page queues, the sender receives
and sends again, and Meta's webhooks tell what became of the retry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from google.protobuf.timestamp_pb2 import Timestamp

from tests.stack import Stack
from xobito import webhooks
from xobito.metrics.v1 import metrics_pb2 as mpb
from xobito.metrics.v1 import metrics_pb2_grpc

WORKSPACE = "test"
RATE_LIMITED = 130429
NOT_ON_WHATSAPP = 131026
SENT_AT = Timestamp(seconds=1772445600)  # 2026-03-02T10:00:00Z

# Who each recipient is: what Meta said to its send, and its contact flag.
RECIPIENTS = {
    "16505550301": (RATE_LIMITED, None),
    "16505550302": (RATE_LIMITED, None),
    "16505550303": (RATE_LIMITED, "OPTED_OUT"),
    "16505550304": (RATE_LIMITED, "INACTIVE"),
    "16505550305": (NOT_ON_WHATSAPP, None),
    "16505550306": (0, None),
}

RETRY = """
mutation ($id: ID!, $categories: [String!]) {
  retryFailed(campaignId: $id, categories: $categories) {
    __typename
    ... on RetryQueued {
      queued
      skipped { optedOut inactive alreadyQueued notRetryable }
    }
    ... on CampaignNotFoundError { message }
    ... on UnknownCategoryError { category message }
  }
}
"""

FLAG = """
mutation ($phone: String!, $flag: ContactFlag!) {
  setContactFlag(phone: $phone, flag: $flag) { __typename }
}
"""


def start_campaign(stack: Stack, api_key: str) -> str:
    """The recipients above, each send accepted or rejected, flags set."""
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Retries",
                phone_number_id="100000000000001",
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[
                    mpb.Recipient(phone=phone, name=f"Ann {phone[-1]}")
                    for phone in RECIPIENTS
                ],
            ),
            timeout=10,
        )
        metrics.RecordSends(
            mpb.RecordSendsRequest(
                campaign_id=campaign.id,
                sends=[
                    mpb.Send(
                        phone=phone,
                        wamid="" if code else f"wamid.retry-{phone}",
                        sent_at=SENT_AT,
                        error_code=code,
                        error_title="Meta said no" if code else "",
                    )
                    for phone, (code, _) in RECIPIENTS.items()
                ],
            ),
            timeout=10,
        )
    for phone, (_, flag) in RECIPIENTS.items():
        if flag:
            stack.graphql(FLAG, api_key, phone=phone, flag=flag)
    return str(campaign.id)


def test_retry_queues_retryable_failures_and_says_why_it_skipped_the_rest(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)

    answer = stack.graphql(RETRY, api_key, id=campaign_id)["retryFailed"]

    assert answer == {
        "__typename": "RetryQueued",
        "queued": 2,
        "skipped": {
            "optedOut": 1,
            "inactive": 1,
            "alreadyQueued": 0,
            "notRetryable": 1,
        },
    }


def test_retrying_again_queues_nobody_twice(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)
    stack.graphql(RETRY, api_key, id=campaign_id)

    answer = stack.graphql(RETRY, api_key, id=campaign_id)["retryFailed"]

    assert answer["queued"] == 0
    assert answer["skipped"]["alreadyQueued"] == 2


def test_retry_takes_only_the_categories_asked_for(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)

    answer = stack.graphql(
        RETRY, api_key, id=campaign_id, categories=["not_on_whatsapp"]
    )["retryFailed"]

    assert answer["queued"] == 0
    assert answer["skipped"]["notRetryable"] == 1
    assert answer["skipped"]["optedOut"] == 0


def test_no_category_chosen_queues_nobody(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)

    answer = stack.graphql(RETRY, api_key, id=campaign_id, categories=[])

    assert answer["retryFailed"]["queued"] == 0
    assert stack.graphql(RETRY, api_key, id=campaign_id)["retryFailed"]["queued"] == 2
    nowhere = stack.graphql(RETRY, api_key, id="cmp_nope", categories=[])
    assert nowhere["retryFailed"]["__typename"] == "CampaignNotFoundError"


def test_an_unknown_category_is_an_error_in_the_result(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)

    answer = stack.graphql(RETRY, api_key, id=campaign_id, categories=["bad_luck"])

    result = answer["retryFailed"]
    assert (result["__typename"], result["category"]) == (
        "UnknownCategoryError",
        "bad_luck",
    )
    assert "'bad_luck' is not a failure category" in result["message"]
    assert "not_on_whatsapp" in result["message"]


def test_an_unknown_campaign_is_an_error_in_the_result(
    stack: Stack, api_key: str, clean: None
) -> None:
    answer = stack.graphql(RETRY, api_key, id="cmp_nope")["retryFailed"]

    assert answer == {
        "__typename": "CampaignNotFoundError",
        "message": "campaign not found",
    }


def test_the_sender_receives_the_queued_retries(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)
    stack.graphql(RETRY, api_key, id=campaign_id)

    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        stream = metrics.WatchRetries(
            mpb.WatchRetriesRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
            timeout=20,
        )
        try:
            received = iter(stream)
            retries = [next(received), next(received)]
        finally:
            stream.cancel()  # type: ignore[no-untyped-call]

    assert [(r.phone, r.name, r.failure_code) for r in retries] == [
        ("16505550301", "Ann 1", RATE_LIMITED),
        ("16505550302", "Ann 2", RATE_LIMITED),
    ]


def test_erasing_a_number_drops_its_retry_not_yet_handed_out(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)
    stack.graphql(RETRY, api_key, id=campaign_id)

    stack.graphql(
        "mutation ($p: String!) { eraseContact(phone: $p) { __typename } }",
        api_key,
        p="16505550301",
    )

    with psycopg.connect(stack.servers.postgres.url) as conn:
        waiting = conn.execute(
            "SELECT r.phone FROM metrics.retries q"
            " JOIN metrics.recipients r ON r.id = q.recipient_id"
            " WHERE q.handed_out_at IS NULL ORDER BY r.phone"
        ).fetchall()
    assert waiting == [("16505550302",)]


# -- a retry's way through the system -----------------------------------

T0 = 1772445600  # 2026-03-02T10:00:00Z, SENT_AT
WABA = "200000000000001"
NUMBER = "100000000000001"
RETRIED = "16505550401"
FIRST, SECOND, THIRD = "wamid.first-0401", "wamid.second-0401", "wamid.third-0401"

ROW = """
query ($id: ID!) { campaign(id: $id) {
  counters { sent delivered read failed }
  recipients(first: 5) { edges { node {
    status wamid sentAt deliveredAt readAt failedAt failure { code }
    timeline { status at }
  } } }
} }
"""


def post_statuses(stack: Stack, *statuses: tuple[str, str, int, int]) -> None:
    """Post (wamid, status, seconds after T0, error code) as one webhook."""
    body = webhooks.body(
        waba_id=WABA,
        phone_number_id=NUMBER,
        display_phone_number="16505559999",
        statuses=[
            webhooks.status(
                wamid,
                value,
                T0 + seconds,
                RETRIED,
                error_code=code,
                error_title="Meta said no" if code else "",
            )
            for wamid, value, seconds, code in statuses
        ],
    )
    reply = stack.post_webhook(body)
    assert reply.status_code == 200, reply.text


def send(stack: Stack, campaign_id: str, wamid: str, seconds: int) -> None:
    """The sender's RecordSends of one accepted message to RETRIED."""
    with stack.channel("metrics") as channel:
        metrics_pb2_grpc.MetricsServiceStub(channel).RecordSends(
            mpb.RecordSendsRequest(
                campaign_id=campaign_id,
                sends=[
                    mpb.Send(
                        phone=RETRIED,
                        wamid=wamid,
                        sent_at=Timestamp(seconds=T0 + seconds),
                    )
                ],
            ),
            timeout=10,
        )


def take_retry(stack: Stack, campaign_id: str) -> mpb.QueuedRetry:
    """The next retry WatchRetries hands the sender."""
    with stack.channel("metrics") as channel:
        stream = metrics_pb2_grpc.MetricsServiceStub(channel).WatchRetries(
            mpb.WatchRetriesRequest(workspace_id=WORKSPACE, campaign_id=campaign_id),
            timeout=20,
        )
        try:
            return next(iter(stream))
        finally:
            stream.cancel()  # type: ignore[no-untyped-call]


def failed_once(stack: Stack) -> str:
    """One recipient, sent at 0; Meta says sent at 1, failed at 60."""
    with stack.channel("metrics") as channel:
        metrics = metrics_pb2_grpc.MetricsServiceStub(channel)
        campaign = metrics.CreateCampaign(
            mpb.CreateCampaignRequest(
                workspace_id=WORKSPACE,
                name="Retried",
                phone_number_id=NUMBER,
                template_name="spring_sale_2026",
            ),
            timeout=10,
        )
        metrics.AddRecipients(
            mpb.AddRecipientsRequest(
                campaign_id=campaign.id,
                recipients=[mpb.Recipient(phone=RETRIED, name="Ann")],
            ),
            timeout=10,
        )
    send(stack, campaign.id, FIRST, 0)
    post_statuses(stack, (FIRST, "sent", 1, 0), (FIRST, "failed", 60, RATE_LIMITED))
    return str(campaign.id)


def retried(stack: Stack, api_key: str, campaign_id: str, wamid: str, at: int) -> None:
    """retryFailed, then the sender takes the retry and sends it."""
    queued = stack.graphql(RETRY, api_key, id=campaign_id)["retryFailed"]
    assert queued["queued"] == 1, queued
    assert take_retry(stack, campaign_id).phone == RETRIED
    send(stack, campaign_id, wamid, at)


def seconds(text: str | None) -> int | None:
    """An API time as seconds after T0."""
    if text is None:
        return None
    return int(datetime.fromisoformat(text).timestamp()) - T0


def shown(stack: Stack, api_key: str, campaign_id: str) -> dict[str, Any]:
    campaign = stack.graphql(ROW, api_key, id=campaign_id)["campaign"]
    node = campaign["recipients"]["edges"][0]["node"]
    return {
        "counters": campaign["counters"],
        "status": node["status"],
        "wamid": node["wamid"],
        "times": [
            seconds(node[name])
            for name in ("sentAt", "deliveredAt", "readAt", "failedAt")
        ],
        "failure": node["failure"],
        "timeline": [(e["status"], seconds(e["at"])) for e in node["timeline"]],
    }


def test_a_retry_is_delivered_and_read_on_its_new_wamid(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = failed_once(stack)
    retried(stack, api_key, campaign_id, SECOND, 600)

    post_statuses(
        stack,
        (SECOND, "sent", 601, 0),
        (SECOND, "delivered", 660, 0),
        (SECOND, "read", 720, 0),
    )

    assert shown(stack, api_key, campaign_id) == {
        "counters": {"sent": 1, "delivered": 1, "read": 1, "failed": 0},
        "status": "READ",
        "wamid": SECOND,
        "times": [601, 660, 720, None],
        "failure": None,
        "timeline": [
            ("SENT", 1),
            ("FAILED", 60),
            ("SENT", 601),
            ("DELIVERED", 660),
            ("READ", 720),
        ],
    }


def test_a_late_status_of_the_first_send_shows_in_the_timeline_only(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = failed_once(stack)
    retried(stack, api_key, campaign_id, SECOND, 600)
    post_statuses(stack, (SECOND, "delivered", 660, 0))
    before = shown(stack, api_key, campaign_id)

    post_statuses(stack, (FIRST, "delivered", 90, 0), (FIRST, "read", 95, 0))

    after = shown(stack, api_key, campaign_id)
    assert {**after, "timeline": None} == {**before, "timeline": None}
    assert after["timeline"] == [
        ("SENT", 1),
        ("FAILED", 60),
        ("DELIVERED", 90),
        ("READ", 95),
        ("DELIVERED", 660),
    ]


def test_a_retry_that_fails_again_is_queued_and_sent_again(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = failed_once(stack)
    retried(stack, api_key, campaign_id, SECOND, 600)
    post_statuses(stack, (SECOND, "failed", 660, RATE_LIMITED))

    again = stack.graphql(RETRY, api_key, id=campaign_id)["retryFailed"]
    retry = take_retry(stack, campaign_id)
    send(stack, campaign_id, THIRD, 1200)

    assert (again["queued"], again["skipped"]["alreadyQueued"]) == (1, 0)
    assert (retry.failure_code, retry.failed_at.seconds) == (RATE_LIMITED, T0 + 660)
    found = shown(stack, api_key, campaign_id)
    assert (found["status"], found["wamid"]) == ("SENT", THIRD)
    assert found["counters"] == {"sent": 1, "delivered": 0, "read": 0, "failed": 0}
