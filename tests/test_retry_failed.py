"""retryFailed end to end: the campaign page queues, the sender receives."""

from __future__ import annotations

import psycopg
from google.protobuf.timestamp_pb2 import Timestamp

from tests.stack import Stack
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
    ... on UnknownCategoryError { category }
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


def test_an_unknown_category_is_an_error_in_the_result(
    stack: Stack, api_key: str, clean: None
) -> None:
    campaign_id = start_campaign(stack, api_key)

    answer = stack.graphql(RETRY, api_key, id=campaign_id, categories=["bad_luck"])

    assert answer["retryFailed"] == {
        "__typename": "UnknownCategoryError",
        "category": "bad_luck",
    }


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
