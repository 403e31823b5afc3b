"""A campaign's warnings: what Meta said, in plain words, with what to do.

Pure functions of the latest template status, the business number's
standing and the account's restrictions (see standing). The latest event
of each wins: REINSTATED or APPROVED after PAUSED clears the warning,
UNFLAGGED after FLAGGED, UPGRADE after DOWNGRADE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, IntEnum

from xobito.failures import FailureCategory


class WarningKind(Enum):
    """What a warning is about; the values are the proto's."""

    TEMPLATE_STATUS = 1
    QUALITY_RATING = 2
    MESSAGING_LIMIT = 3
    ACCOUNT_RESTRICTION = 4


class Severity(IntEnum):
    """How much a warning holds the campaign back; the proto's values."""

    # Sends go on, at a risk or more slowly.
    WARNING = 1
    # Sends fail until it is resolved.
    BLOCKING = 2


@dataclass(frozen=True, slots=True)
class CampaignWarning:
    kind: WarningKind
    severity: Severity
    title: str
    action: str
    since: datetime | None


@dataclass(frozen=True, slots=True)
class TemplateStatus:
    """Meta's latest word on one language of a template."""

    name: str
    language: str
    event: str
    reason: str
    at: datetime
    # PAUSED events the template had in all: Meta pauses for longer
    # each time.
    pauses: int = 0


@dataclass(frozen=True, slots=True)
class Restriction:
    type: str
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class NumberStanding:
    """A business number's latest quality and limit, and its account's."""

    phone_number_id: str
    display_phone_number: str = ""
    waba_id: str = ""
    quality_event: str = ""
    quality_at: datetime | None = None
    limit_event: str = ""
    limit_at: datetime | None = None
    current_limit: str = ""
    old_limit: str = ""
    max_daily: int = 0
    # In force now; restricted_at is when Meta imposed them.
    restrictions: list[Restriction] = field(default_factory=list)
    restricted_at: datetime | None = None


# Quality events; every other event of a quality update is about the
# messaging limit (DOWNGRADE, UPGRADE, ONBOARDING, ...).
QUALITY_EVENTS = frozenset({"FLAGGED", "UNFLAGGED", "GREEN", "YELLOW", "RED"})
_LOW_QUALITY = frozenset({"FLAGGED", "RED"})
# Template events after which it sends as before, or that do not touch
# sending at all.
_TEMPLATE_FINE = frozenset(
    {"APPROVED", "REINSTATED", "UNPAUSED", "LOCKED", "UNLOCKED", "LIMIT_EXCEEDED"}
)
# Restrictions that leave campaign sends going.
_NOT_BLOCKING = frozenset({"RESTRICTED_ADD_PHONE_NUMBER_ACTION"})
_RESTRICTED = {
    "RESTRICTED_BIZ_INITIATED_MESSAGING": "starting conversations",
    "RESTRICTED_CUSTOMER_INITIATED_MESSAGING": "answering customers",
    "RESTRICTED_ADD_PHONE_NUMBER_ACTION": "adding phone numbers",
}
_PAUSES = {1: "first pause: 3 hours", 2: "second pause: 6 hours"}

# The failure categories each kind of warning explains.
_EXPLAINS = {
    FailureCategory.TEMPLATE_UNAVAILABLE.value: WarningKind.TEMPLATE_STATUS,
    FailureCategory.QUALITY_THROTTLED.value: WarningKind.QUALITY_RATING,
    FailureCategory.TIER_LIMIT_REACHED.value: WarningKind.MESSAGING_LIMIT,
    FailureCategory.ACCOUNT_PROBLEM.value: WarningKind.ACCOUNT_RESTRICTION,
}


def _utc(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _template(status: TemplateStatus, named: str) -> CampaignWarning | None:
    event = status.event
    blocking = Severity.BLOCKING
    if event in _TEMPLATE_FINE:
        return None
    if event == "PAUSED":
        pause = _PAUSES.get(status.pauses, f"paused {status.pauses} times")
        return _template_warning(
            status,
            blocking,
            f"{named} was paused by Meta for low quality",
            f"Sends fail with 132015 until it is reinstated ({pause}). Hold"
            " the campaign, or send the rest with another approved template.",
        )
    if event == "DISABLED":
        return _template_warning(
            status,
            blocking,
            f"{named} was disabled by Meta",
            "Sends fail with 132016: a disabled template never sends again."
            " Create a new template and send the rest with it.",
        )
    if event == "FLAGGED":
        return _template_warning(
            status,
            Severity.WARNING,
            f"{named} was flagged for low quality",
            "It still sends, but Meta pauses it if the feedback does not"
            " improve. Review its content and who receives it.",
        )
    if event in {"REJECTED", "IN_APPEAL", "PENDING"}:
        said = {
            "REJECTED": "was rejected by Meta",
            "IN_APPEAL": "is in appeal after Meta rejected it",
            "PENDING": "is waiting for Meta's review",
        }[event]
        reason = status.reason if status.reason not in ("", "NONE") else ""
        return _template_warning(
            status,
            blocking,
            f"{named} {said}" + (f" ({reason})" if reason else ""),
            "Sends fail with 132001 until it is approved. Fix the template"
            " in WhatsApp Manager, or send with another approved template.",
        )
    if event in {"DELETED", "PENDING_DELETION", "ARCHIVED"}:
        return _template_warning(
            status,
            blocking,
            f"{named} was {'archived' if event == 'ARCHIVED' else 'deleted'}",
            "Sends fail with 132001. Send the rest with another approved template.",
        )
    return _template_warning(
        status,
        Severity.WARNING,
        f"Meta reported {event} for {named}",
        "Check the template in WhatsApp Manager before sending more.",
    )


def _template_warning(
    status: TemplateStatus, severity: Severity, title: str, action: str
) -> CampaignWarning:
    return CampaignWarning(
        WarningKind.TEMPLATE_STATUS, severity, title, action, status.at
    )


def template_warnings(
    statuses: Sequence[TemplateStatus], language_known: bool
) -> list[CampaignWarning]:
    """A warning per language of the template Meta holds back or flags.

    The language is named when the campaign did not say which it uses.
    """
    found = []
    for status in statuses:
        named = f"Template {status.name}"
        if not language_known and status.language:
            named += f" ({status.language})"
        warning = _template(status, named)
        if warning is not None:
            found.append(warning)
    return found


def number_warnings(number: NumberStanding) -> list[CampaignWarning]:
    """Warnings about the business number and its account."""
    found = []
    shown = number.display_phone_number or number.phone_number_id
    if number.quality_event in _LOW_QUALITY:
        found.append(
            CampaignWarning(
                WarningKind.QUALITY_RATING,
                Severity.WARNING,
                "Quality rating dropped: pause campaigns for 24 to 48 hours",
                f"Meta rated messages from {shown} low quality. Pause its"
                " campaigns for 24 to 48 hours, and review who receives them and"
                " what they say; sending on risks a lower messaging limit.",
                number.quality_at,
            )
        )
    if number.limit_event == "DOWNGRADE":
        lowered = f"Messaging tier lowered to {number.current_limit or 'a lower tier'}"
        if number.max_daily:
            lowered += f" ({number.max_daily:,} people per 24 hours)"
        found.append(
            CampaignWarning(
                WarningKind.MESSAGING_LIMIT,
                Severity.WARNING,
                "Messaging tier limit reached: remaining messages go out"
                " when the 24-hour window resets",
                f"{lowered}. Messages past the limit wait for the rolling"
                " 24-hour window; good quality raises the tier again.",
                number.limit_at,
            )
        )
    for restriction in number.restrictions:
        found.append(_restriction(restriction, number.restricted_at))
    return found


def _restriction(restriction: Restriction, since: datetime | None) -> CampaignWarning:
    what = _RESTRICTED.get(restriction.type, restriction.type)
    until = f" until {_utc(restriction.until)}" if restriction.until else ""
    blocking = restriction.type not in _NOT_BLOCKING
    effect = (
        "campaign sends fail until then"
        if blocking
        else "campaign sends go on, but the account cannot change numbers"
    )
    return CampaignWarning(
        WarningKind.ACCOUNT_RESTRICTION,
        Severity.BLOCKING if blocking else Severity.WARNING,
        f"Business account restricted from {what}{until}",
        f"Meta restricted the account ({restriction.type}): {effect}. Read"
        " Meta's notice in WhatsApp Manager's account quality page.",
        since,
    )


def ordered(warnings: Sequence[CampaignWarning]) -> list[CampaignWarning]:
    """The most severe first, then the newest."""
    newest_first = sorted(
        warnings,
        key=lambda w: w.since.timestamp() if w.since else 0.0,
        reverse=True,
    )
    return sorted(newest_first, key=lambda w: w.severity, reverse=True)


def hint(category: str, warnings: Sequence[CampaignWarning]) -> str:
    """The title of the warning that explains failures of category."""
    kind = _EXPLAINS.get(category)
    for warning in warnings:
        if warning.kind is kind:
            return warning.title
    return ""
