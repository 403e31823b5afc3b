"""A campaign's standing with Meta: its template, number and account.

Read from the latest template, quality and account updates of the
campaign's WABA (see accountlog), and turned into warnings (see
warnings).

Quality updates name the number by its display number and WABA only,
never by phone_number_id. The campaign sender may give the display
number with CreateCampaign; without it, when the workspace's campaigns
know only one number in the WABA and its quality updates all name one
display number, that number is taken to be it. (Statuses carry the
display number in their metadata too, but the normalized StatusEvent has
no field for it yet.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from services.metrics import accountlog
from services.metrics.accountlog import LatestEvent
from services.metrics.campaigns import in_workspace
from services.metrics.ledger import Conn, Pool
from services.metrics.recipients import FailureReason
from services.metrics.store import CampaignRecord
from services.metrics.warnings import (
    QUALITY_EVENTS,
    CampaignWarning,
    NumberStanding,
    Restriction,
    TemplateStatus,
    hint,
    number_warnings,
    ordered,
    template_warnings,
)
from xobito import phones

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class Standing:
    def __init__(self, pool: Pool, clock: Clock = _now) -> None:
        self._pool = pool
        self._clock = clock

    async def warnings(
        self, workspace_id: str, campaign_id: str
    ) -> list[CampaignWarning]:
        """The campaign's warnings, the most severe first."""
        async with self._pool.connection() as conn:
            campaign = await in_workspace(conn, workspace_id, campaign_id)
            templates = await _templates(conn, campaign)
            number = await self._number(conn, campaign)
        found = template_warnings(templates, bool(campaign.template_language))
        return ordered(found + number_warnings(number))

    async def business_number(
        self, workspace_id: str, campaign_id: str
    ) -> NumberStanding:
        async with self._pool.connection() as conn:
            campaign = await in_workspace(conn, workspace_id, campaign_id)
            return await self._number(conn, campaign)

    async def explain(
        self,
        workspace_id: str,
        campaign_id: str,
        reasons: Sequence[FailureReason],
    ) -> list[FailureReason]:
        """The reasons, each with a hint where a warning explains it."""
        if not reasons:
            return []
        warnings = await self.warnings(workspace_id, campaign_id)
        return [
            replace(reason, hint=hint(reason.category, warnings)) for reason in reasons
        ]

    async def _number(self, conn: Conn, campaign: CampaignRecord) -> NumberStanding:
        number_id, waba_id = campaign.phone_number_id, campaign.waba_id
        display = await accountlog.display_number(conn, number_id)
        if not waba_id:
            # Quality and account updates name only their WABA.
            return NumberStanding(number_id, display)

        workspace_id = campaign.workspace_id
        quality = await accountlog.latest_events(
            conn, workspace_id, "phone_quality", waba_id
        )
        named = {_digits(event.subject) for event in quality}
        if not display:
            known = await accountlog.numbers_in_waba(conn, workspace_id, waba_id)
            if len(named) == 1 and known == {number_id}:
                display = named.pop()
        mine = [e for e in quality if display and _digits(e.subject) == display]
        quality_event = _latest(e for e in mine if e.event in QUALITY_EVENTS)
        limit_event = _latest(e for e in mine if e.event not in QUALITY_EVENTS)
        limits = _latest(e for e in mine if e.payload.get("current_limit"))

        account = await accountlog.latest_events(
            conn, workspace_id, "account_update", waba_id
        )
        restricted = _latest(e for e in account if e.event == "ACCOUNT_RESTRICTION")
        restrictions = _restrictions(restricted, self._clock())
        return NumberStanding(
            phone_number_id=number_id,
            display_phone_number=display,
            waba_id=waba_id,
            quality_event=quality_event.event if quality_event else "",
            quality_at=quality_event.occurred_at if quality_event else None,
            limit_event=limit_event.event if limit_event else "",
            limit_at=limit_event.occurred_at if limit_event else None,
            current_limit=_text(limits, "current_limit"),
            old_limit=_text(limits, "old_limit"),
            max_daily=_count(_text(limits, "max_daily")),
            restrictions=restrictions,
            restricted_at=restricted.occurred_at
            if restrictions and restricted
            else None,
        )


async def _templates(conn: Conn, campaign: CampaignRecord) -> list[TemplateStatus]:
    """The latest status of each language of the campaign's template."""
    events = await accountlog.latest_events(
        conn,
        campaign.workspace_id,
        "template_status",
        campaign.waba_id,
        campaign.template_name,
    )
    language = campaign.template_language
    by_language: dict[str, list[LatestEvent]] = {}
    for event in events:
        if not language or event.subject in (language, ""):
            by_language.setdefault(event.subject, []).append(event)

    statuses = []
    for subject, found in sorted(by_language.items()):
        latest = _latest(found)
        assert latest is not None
        statuses.append(
            TemplateStatus(
                name=campaign.template_name,
                language=subject,
                event=latest.event,
                reason=_text(latest, "reason"),
                at=latest.occurred_at,
                pauses=sum(e.seen for e in found if e.event == "PAUSED"),
            )
        )
    return statuses


def _digits(display: str) -> str:
    return phones.normalize(display) or display


def _latest(events: Iterable[LatestEvent]) -> LatestEvent | None:
    """The newest event; equal times go to the greater event name."""
    return max(events, key=lambda e: (e.occurred_at, e.event), default=None)


def _text(event: LatestEvent | None, key: str) -> str:
    if event is None:
        return ""
    value = event.payload.get(key, "")
    return value if isinstance(value, str) else ""


def _count(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() else 0


def _restrictions(event: LatestEvent | None, now: datetime) -> list[Restriction]:
    """The restrictions of the latest restriction event still in force."""
    if event is None:
        return []
    found = []
    for item in event.payload.get("restrictions", []):
        if not isinstance(item, dict):
            continue
        until = _time(item.get("until"))
        if until is None or until > now:
            found.append(Restriction(str(item.get("type", "")), until))
    return found


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
