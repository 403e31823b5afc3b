"""retryFailed: queue a campaign's retryable failures for the sender.

Metrics names the failed recipients a retry may help, contacts says
which of them may still be messaged, and metrics queues those, each once
per failed send. The campaign sender takes them from WatchRetries.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

import strawberry

from gateway.context import Info
from gateway.errors import NotFoundError
from xobito.failures import FailureCategory
from xobito.metrics.v1 import metrics_pb2 as mpb

_CATEGORIES = frozenset(category.value for category in FailureCategory)


@strawberry.type(description="Failed recipients left out, by reason.")
class RetrySkipped:
    opted_out: int
    inactive: int
    already_queued: int = strawberry.field(
        description="Queued before for the same failed send."
    )
    not_retryable: int = strawberry.field(
        description="Their failure is one a later send cannot overcome."
    )


@strawberry.type(description="Failed recipients queued for the sender to retry.")
class RetryQueued:
    campaign_id: strawberry.ID
    queued: int
    skipped: RetrySkipped


@strawberry.type(description="No such campaign in the key's workspace.")
class CampaignNotFoundError:
    campaign_id: strawberry.ID
    message: str


@strawberry.type(description="A category that names no failure category.")
class UnknownCategoryError:
    category: str
    message: str


RetryResult = Annotated[
    RetryQueued | CampaignNotFoundError | UnknownCategoryError,
    strawberry.union("RetryResult"),
]

Categories = Annotated[
    list[str] | None,
    strawberry.argument(
        description=(
            "Failure categories (rate_limited, ...); null: every one,"
            " an empty list: none."
        )
    ),
]


async def retry_failed(
    info: Info, campaign_id: strawberry.ID, categories: Categories = None
) -> RetryResult:
    """Queue the failed recipients a retry may help, once per failed send."""
    wanted = sorted(set(categories or []))
    for category in wanted:
        if category not in _CATEGORIES:
            known = ", ".join(sorted(_CATEGORIES))
            return UnknownCategoryError(
                category=category,
                message=f"{category!r} is not a failure category ({known})",
            )

    try:
        if categories is not None and not wanted:
            return await _nothing_chosen(info, campaign_id)
        return await _retry(info, campaign_id, wanted)
    except NotFoundError:
        return CampaignNotFoundError(
            campaign_id=campaign_id, message="campaign not found"
        )


async def _nothing_chosen(info: Info, campaign_id: str) -> RetryQueued:
    """No category chosen queues nothing (an unknown campaign is still one)."""
    context = info.context
    await context.metrics.get_campaign(context.workspace, campaign_id)
    return RetryQueued(
        campaign_id=strawberry.ID(campaign_id),
        queued=0,
        skipped=RetrySkipped(
            opted_out=0, inactive=0, already_queued=0, not_retryable=0
        ),
    )


async def _retry(info: Info, campaign_id: str, categories: list[str]) -> RetryQueued:
    context = info.context
    workspace = context.workspace
    candidates = await context.metrics.list_retry_candidates(
        mpb.ListRetryCandidatesRequest(
            workspace_id=workspace, campaign_id=campaign_id, categories=categories
        )
    )

    sendable: list[str] = []
    refused: Counter[str] = Counter()
    if candidates.phones:
        answers = await context.contacts.filter_sendable(
            workspace, list(candidates.phones)
        )
        for answer in answers:
            if answer.sendable:
                sendable.append(answer.phone)
            else:
                refused[answer.reason] += 1

    queued = mpb.QueueRetriesResponse()
    if sendable:
        queued = await context.metrics.queue_retries(
            mpb.QueueRetriesRequest(
                workspace_id=workspace,
                campaign_id=campaign_id,
                categories=categories,
                phones=sendable,
            )
        )

    # An invalid number cannot be helped by a retry either.
    not_retryable = (
        candidates.not_retryable + queued.not_retryable + refused["invalid_number"]
    )
    return RetryQueued(
        campaign_id=strawberry.ID(campaign_id),
        queued=queued.queued,
        skipped=RetrySkipped(
            opted_out=refused["opted_out"],
            inactive=refused["inactive"],
            already_queued=candidates.already_queued + queued.already_queued,
            not_retryable=not_retryable,
        ),
    )
