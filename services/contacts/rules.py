"""The rules that set and clear a contact's opted-out and inactive flags.

Pure functions: they take a contact's flags and what new events say about
it, and return the new flags with one FlagChange per change, for the
audit trail. Who set a flag decides who may change it:

- `agent`, a person, who may set a flag or clear it. Only another agent
  lifts an agent's opt-out, and no inference ever changes an agent's
  decision: not a start keyword, not Meta's resume, not the failure
  streak, not a delivery. One thing does: the contact's own new wish to
  hear no more. A stop keyword, the stop-promotions button or Meta's
  marketing opt-out, newer than an agent's clearing, opts them out again.
- `rule`, our own rules: stop and start keywords, the stop-promotions
  button, the failure streak.
- `meta`, Meta's marketing opt-out (user_preferences `stop`, error
  131050): cleared by a user_preferences `resume`, or when the contact
  writes to the business again, whatever they write but a stop.

Every decision uses the time of the event, not of its arrival: an event
older than a flag's last change does not change it, so that a late
webhook cannot undo a newer decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from xobito.failures import ContactEffect, lookup


class SetBy(StrEnum):
    RULE = "rule"
    META = "meta"
    AGENT = "agent"


class Reason(StrEnum):
    # Why a flag went on.
    STOP_KEYWORD = "stop_keyword"
    STOP_BUTTON = "stop_button"
    META_MARKETING_STOP = "meta_marketing_stop"
    UNDELIVERABLE_REPEATEDLY = "undeliverable_repeatedly"
    # Why it went off again.
    START_KEYWORD = "start_keyword"
    META_RESUME = "meta_resume"
    CONTACT_WROTE = "contact_wrote"
    DELIVERED = "delivered"
    # An agent's decision, either way.
    AGENT_SET = "agent_set"
    AGENT_CLEARED = "agent_cleared"


class Signal(Enum):
    """What an event says about a contact's wish to be messaged."""

    STOP_KEYWORD = "stop_keyword"
    STOP_BUTTON = "stop_button"
    START_KEYWORD = "start_keyword"
    WROTE = "wrote"
    META_STOP = "meta_stop"
    META_RESUME = "meta_resume"


class Outcome(Enum):
    """What a send's status says about the contact's number."""

    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    MARKETING_STOP = "marketing_stop"
    # Sent, or failed for a reason of the business or the moment.
    NOTHING = "nothing"


OPTED_OUT = "opted_out"
INACTIVE = "inactive"

_BUTTON_TYPES = frozenset({"button", "interactive"})
_DELIVERED_STATUSES = frozenset({"delivered", "read", "played"})
_RESUMES = frozenset({Signal.START_KEYWORD, Signal.WROTE, Signal.META_RESUME})


@dataclass(frozen=True)
class Flag:
    on: bool = False
    reason: str = ""
    set_by: str = ""
    changed_at: datetime | None = None


@dataclass(frozen=True)
class FlagChange:
    """One line of the audit trail."""

    flag: str
    value: bool
    reason: str
    set_by: str
    at: datetime
    note: str = ""
    # Who, in an agent's own words; empty for rules and Meta.
    agent: str = ""


@dataclass(frozen=True)
class ContactSignal:
    workspace_id: str
    phone: str
    signal: Signal
    at: datetime
    note: str = ""


@dataclass(frozen=True)
class SendOutcome:
    """A status of a message sent to the contact, as far as it concerns them."""

    workspace_id: str
    phone: str
    # The message's wamid; a send Meta refused at once has none, and
    # stands here under the id of the send.
    wamid: str
    outcome: Outcome
    at: datetime
    error_code: int = 0


@dataclass(frozen=True)
class Contact:
    workspace_id: str
    phone: str
    name: str
    opted_out: Flag
    inactive: Flag
    failure_streak: int
    last_inbound_at: datetime | None


@dataclass(frozen=True)
class Streak:
    """The failed sends since the contact's last delivery."""

    count: int
    last_failure_at: datetime | None = None
    last_delivered_at: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """A contact's flags and streak after a batch, and the changes made."""

    opted_out: Flag
    inactive: Flag
    failure_streak: int
    changes: list[FlagChange]


def blocking_reason(opted_out: bool, inactive: bool) -> str:
    """Why a contact may not be messaged; empty when it may."""
    if opted_out:
        return OPTED_OUT
    if inactive:
        return INACTIVE
    return ""


def message_signal(message_type: str, opt_out: bool, opt_in: bool) -> Signal:
    """What an inbound message says; the parser spotted the keywords."""
    if opt_out:
        if message_type in _BUTTON_TYPES:
            return Signal.STOP_BUTTON
        return Signal.STOP_KEYWORD
    if opt_in:
        return Signal.START_KEYWORD
    return Signal.WROTE


def preference_signal(value: str) -> Signal | None:
    """A user_preferences value: Meta's marketing stop or resume."""
    return {"stop": Signal.META_STOP, "resume": Signal.META_RESUME}.get(
        value.strip().lower()
    )


def outcome_of(status: str, error_code: int, error_title: str = "") -> Outcome:
    """What a status says about the number, from the failure catalogue."""
    if status in _DELIVERED_STATUSES:
        return Outcome.DELIVERED
    if status != "failed":
        return Outcome.NOTHING

    effect = lookup(error_code, error_title).contact_effect
    if effect is ContactEffect.COUNTS_TOWARD_INACTIVE:
        return Outcome.UNDELIVERABLE
    if effect is ContactEffect.OPT_OUT:
        return Outcome.MARKETING_STOP
    return Outcome.NOTHING


def decide(
    contact: Contact,
    signals: Iterable[ContactSignal],
    streak: Streak,
    inactive_after: int,
) -> Decision | None:
    """Run every rule over one contact; None when nothing changes."""
    opted_out, opt_changes = apply_signals(contact.opted_out, signals)
    inactive, streak_changes = apply_streak(contact.inactive, streak, inactive_after)

    changes = [*opt_changes, *streak_changes]
    if not changes and streak.count == contact.failure_streak:
        return None
    return Decision(opted_out, inactive, streak.count, changes)


def outcome_signal(outcome: SendOutcome) -> ContactSignal | None:
    """Error 131050 is Meta's marketing opt-out, reported on a send."""
    if outcome.outcome is not Outcome.MARKETING_STOP:
        return None
    return ContactSignal(
        outcome.workspace_id,
        outcome.phone,
        Signal.META_STOP,
        outcome.at,
        note=outcome.wamid,
    )


def apply_signals(
    flag: Flag, signals: Iterable[ContactSignal]
) -> tuple[Flag, list[FlagChange]]:
    """The opted-out flag after the signals, taken in the order they occurred."""
    changes = []
    for signal in sorted(signals, key=lambda s: s.at):
        change = _opt_out_change(flag, signal)
        if change is not None:
            flag = flag_after(change)
            changes.append(change)
    return flag, changes


def agent_change(
    previous: Flag,
    flag_name: str,
    value: bool,
    at: datetime,
    *,
    note: str,
    agent: str,
) -> FlagChange:
    """An agent's decision, recorded even when the value stays the same.

    The agent takes the flag over, so that rules leave it alone; it takes
    effect no earlier than the flag's last change, so that it is newer.
    """
    if previous.changed_at is not None:
        at = max(at, previous.changed_at)
    reason = Reason.AGENT_SET if value else Reason.AGENT_CLEARED
    return FlagChange(flag_name, value, reason, SetBy.AGENT, at, note, agent)


def _opt_out_change(flag: Flag, signal: ContactSignal) -> FlagChange | None:
    if _is_stale(flag, signal.at):
        return None
    # An agent's opt-out holds; an agent's clearing yields only to a stop.
    if flag.set_by == SetBy.AGENT and (flag.on or signal.signal in _RESUMES):
        return None

    def change(value: bool, reason: Reason, set_by: SetBy) -> FlagChange:
        return FlagChange(OPTED_OUT, value, reason, set_by, signal.at, signal.note)

    match signal.signal:
        case Signal.STOP_KEYWORD | Signal.STOP_BUTTON:
            # The contact's own words outrank Meta's opt-out: a later
            # resume in Meta's client must not undo them.
            if flag.on and flag.set_by == SetBy.RULE:
                return None
            reason = (
                Reason.STOP_BUTTON
                if signal.signal is Signal.STOP_BUTTON
                else Reason.STOP_KEYWORD
            )
            return change(True, reason, SetBy.RULE)
        case Signal.META_STOP:
            if flag.on:
                return None
            return change(True, Reason.META_MARKETING_STOP, SetBy.META)
        case Signal.START_KEYWORD:
            if flag.on and flag.reason == Reason.META_MARKETING_STOP:
                return change(False, Reason.CONTACT_WROTE, SetBy.RULE)
            # With nothing to undo too: a stop the contact sent before it,
            # that arrives after it, is then older than the flag's change.
            return change(False, Reason.START_KEYWORD, SetBy.RULE)
        case Signal.WROTE:
            if flag.on and flag.reason == Reason.META_MARKETING_STOP:
                return change(False, Reason.CONTACT_WROTE, SetBy.RULE)
            return None
        case Signal.META_RESUME:
            if flag.on and flag.reason == Reason.META_MARKETING_STOP:
                return change(False, Reason.META_RESUME, SetBy.META)
            return None


def apply_streak(
    flag: Flag, streak: Streak, inactive_after: int
) -> tuple[Flag, list[FlagChange]]:
    """The inactive flag for a failure streak.

    inactive_after failed sends in a row, each saying the number cannot
    receive, make the contact inactive; a delivery after them lifts it.
    """
    if flag.set_by == SetBy.AGENT:
        return flag, []

    change = None
    if not flag.on and streak.count >= inactive_after:
        assert streak.last_failure_at is not None
        change = FlagChange(
            INACTIVE,
            True,
            Reason.UNDELIVERABLE_REPEATEDLY,
            SetBy.RULE,
            streak.last_failure_at,
            f"{streak.count} undeliverable sends in a row",
        )
    elif _delivered_since(flag, streak) and streak.count < inactive_after:
        assert streak.last_delivered_at is not None
        change = FlagChange(
            INACTIVE, False, Reason.DELIVERED, SetBy.RULE, streak.last_delivered_at
        )

    if change is None:
        return flag, []
    return flag_after(change), [change]


def _delivered_since(flag: Flag, streak: Streak) -> bool:
    delivered = streak.last_delivered_at
    return (
        flag.on
        and flag.reason == Reason.UNDELIVERABLE_REPEATEDLY
        and delivered is not None
        and not _is_stale(flag, delivered)
    )


def _is_stale(flag: Flag, at: datetime) -> bool:
    return flag.changed_at is not None and at < flag.changed_at


def flag_after(change: FlagChange) -> Flag:
    """The flag as a change leaves it."""
    return Flag(change.value, change.reason, change.set_by, change.at)
