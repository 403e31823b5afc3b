"""What Meta said about a campaign's template, number and account."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from gateway.types.scalars import time_of
from xobito.metrics.v1 import metrics_pb2 as mpb


@strawberry.enum(description="What a warning is about.")
class WarningKind(Enum):
    TEMPLATE_STATUS = mpb.WARNING_KIND_TEMPLATE_STATUS
    QUALITY_RATING = mpb.WARNING_KIND_QUALITY_RATING
    MESSAGING_LIMIT = mpb.WARNING_KIND_MESSAGING_LIMIT
    ACCOUNT_RESTRICTION = mpb.WARNING_KIND_ACCOUNT_RESTRICTION


@strawberry.enum
class WarningSeverity(Enum):
    WARNING = strawberry.enum_value(
        mpb.WARNING_SEVERITY_WARNING,
        description="Sends go on, at a risk or more slowly.",
    )
    BLOCKING = strawberry.enum_value(
        mpb.WARNING_SEVERITY_BLOCKING,
        description="Sends fail until it is resolved.",
    )


@strawberry.type(
    description="What Meta said that a campaign must heed; the most severe come first."
)
class CampaignWarning:
    kind: WarningKind
    severity: WarningSeverity
    title: str
    action: str
    since: datetime | None = strawberry.field(
        description="When Meta raised what the warning is about."
    )

    @classmethod
    def of(cls, message: mpb.CampaignWarning) -> CampaignWarning:
        return cls(
            kind=WarningKind(message.kind),
            severity=WarningSeverity(message.severity),
            title=message.title,
            action=message.action,
            since=time_of(message, "since"),
        )


@strawberry.type
class AccountRestriction:
    type: str
    until: datetime | None


@strawberry.type(description="The business number a campaign sends from.")
class BusinessNumber:
    phone_number_id: str
    display_phone_number: str | None
    waba_id: str | None
    quality_event: str | None = strawberry.field(
        description="Meta's latest quality event: FLAGGED, UNFLAGGED, ..."
    )
    quality_event_at: datetime | None
    limit_event: str | None = strawberry.field(
        description="Meta's latest messaging limit event: DOWNGRADE, UPGRADE, ..."
    )
    limit_event_at: datetime | None
    current_limit: str | None = strawberry.field(
        description="The messaging tier: TIER_2K, TIER_10K, ..."
    )
    old_limit: str | None
    max_daily: int | None = strawberry.field(
        description="People it may start conversations with per 24 hours."
    )
    restrictions: list[AccountRestriction] = strawberry.field(
        description="Restrictions on the business account in force now."
    )

    @classmethod
    def of(cls, message: mpb.BusinessNumber) -> BusinessNumber:
        return cls(
            phone_number_id=message.phone_number_id,
            display_phone_number=message.display_phone_number or None,
            waba_id=message.waba_id or None,
            quality_event=message.quality_event or None,
            quality_event_at=time_of(message, "quality_event_at"),
            limit_event=message.limit_event or None,
            limit_event_at=time_of(message, "limit_event_at"),
            current_limit=message.current_limit or None,
            old_limit=message.old_limit or None,
            max_daily=message.max_daily or None,
            restrictions=[
                AccountRestriction(
                    type=restriction.type, until=time_of(restriction, "until")
                )
                for restriction in message.restrictions
            ],
        )
