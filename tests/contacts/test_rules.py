"""The flag rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.contacts.rules import (
    ContactSignal,
    Flag,
    FlagChange,
    Outcome,
    Signal,
    Streak,
    agent_change,
    apply_signals,
    apply_streak,
    blocking_reason,
    flag_after,
    message_signal,
    outcome_of,
    preference_signal,
)

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PHONE = "16505551234"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def signal(kind: Signal, minutes: int) -> ContactSignal:
    return ContactSignal("ws", PHONE, kind, at(minutes))


def opted_out(reason: str, set_by: str, minutes: int = 0) -> Flag:
    return Flag(True, reason, set_by, at(minutes))


def test_stop_keyword_opts_out_by_rule() -> None:
    flag, changes = apply_signals(Flag(), [signal(Signal.STOP_KEYWORD, 1)])

    assert flag == opted_out("stop_keyword", "rule", 1)
    assert [(c.flag, c.value, c.reason) for c in changes] == [
        ("opted_out", True, "stop_keyword")
    ]


def test_stop_button_opts_out_with_its_own_reason() -> None:
    flag, _ = apply_signals(Flag(), [signal(Signal.STOP_BUTTON, 1)])

    assert flag.reason == "stop_button"


def test_start_keyword_undoes_a_keyword_opt_out() -> None:
    flag, changes = apply_signals(
        opted_out("stop_keyword", "rule"), [signal(Signal.START_KEYWORD, 1)]
    )

    assert not flag.on
    assert changes[0].reason == "start_keyword"


def test_start_keyword_is_writing_again_to_a_meta_opt_out() -> None:
    meta = opted_out("meta_marketing_stop", "meta")

    flag, changes = apply_signals(meta, [signal(Signal.START_KEYWORD, 1)])

    assert not flag.on
    assert changes[0].reason == "contact_wrote"


def test_writing_again_clears_a_meta_opt_out() -> None:
    flag, changes = apply_signals(
        opted_out("meta_marketing_stop", "meta"), [signal(Signal.WROTE, 1)]
    )

    assert not flag.on
    assert changes[0].reason == "contact_wrote"


def test_writing_again_leaves_a_keyword_opt_out() -> None:
    keyword = opted_out("stop_keyword", "rule")

    flag, _ = apply_signals(keyword, [signal(Signal.WROTE, 1)])

    assert flag == keyword


def test_meta_resume_clears_only_a_meta_opt_out() -> None:
    meta, _ = apply_signals(
        opted_out("meta_marketing_stop", "meta"), [signal(Signal.META_RESUME, 1)]
    )
    keyword, _ = apply_signals(
        opted_out("stop_keyword", "rule"), [signal(Signal.META_RESUME, 1)]
    )

    assert not meta.on
    assert keyword.on


def test_stop_keyword_replaces_a_meta_opt_out_so_resume_cannot_undo_it() -> None:
    flag, _ = apply_signals(
        opted_out("meta_marketing_stop", "meta"),
        [signal(Signal.STOP_KEYWORD, 1), signal(Signal.META_RESUME, 2)],
    )

    assert flag == opted_out("stop_keyword", "rule", 1)


def test_meta_stop_keeps_a_keyword_opt_out() -> None:
    keyword = opted_out("stop_keyword", "rule")

    flag, changes = apply_signals(keyword, [signal(Signal.META_STOP, 1)])

    assert flag == keyword
    assert changes == []


def agent(on: bool, minutes: int = 0) -> Flag:
    reason = "agent_set" if on else "agent_cleared"
    return Flag(on, reason, "agent", at(minutes))


def test_an_agents_opt_out_is_never_lifted_by_the_contact_or_meta() -> None:
    resumes = [Signal.START_KEYWORD, Signal.WROTE, Signal.META_RESUME]

    flag, changes = apply_signals(agent(True), [signal(s, 1) for s in resumes])

    assert flag == agent(True)
    assert changes == []


def test_an_agents_clearing_is_not_undone_by_a_resume() -> None:
    flag, changes = apply_signals(agent(False), [signal(Signal.WROTE, 1)])

    assert flag == agent(False)
    assert changes == []


def test_a_new_stop_keyword_opts_out_again_after_an_agent_cleared() -> None:
    flag, changes = apply_signals(agent(False), [signal(Signal.STOP_KEYWORD, 1)])

    assert flag == opted_out("stop_keyword", "rule", 1)
    assert [c.set_by for c in changes] == ["rule"]


def test_metas_new_opt_out_wins_over_an_agents_clearing() -> None:
    flag, _ = apply_signals(agent(False), [signal(Signal.META_STOP, 1)])

    assert flag == opted_out("meta_marketing_stop", "meta", 1)


def test_a_stop_older_than_an_agents_clearing_is_ignored() -> None:
    flag, changes = apply_signals(agent(False, 10), [signal(Signal.STOP_KEYWORD, 5)])

    assert flag == agent(False, 10)
    assert changes == []


def test_an_agents_decision_is_recorded_with_the_agent_and_note() -> None:
    change = agent_change(
        Flag(), "opted_out", True, at(1), note="asked by phone", agent="ana"
    )

    assert change == FlagChange(
        "opted_out", True, "agent_set", "agent", at(1), "asked by phone", "ana"
    )


def test_an_agents_decision_is_never_older_than_the_flags_last_change() -> None:
    change = agent_change(
        opted_out("stop_keyword", "rule", 10),
        "opted_out",
        False,
        at(1),
        note="",
        agent="ana",
    )

    assert change.at == at(10)
    assert flag_after(change) == agent(False, 10)


def test_signals_apply_in_the_order_they_occurred() -> None:
    late_start = signal(Signal.START_KEYWORD, 2)
    early_stop = signal(Signal.STOP_KEYWORD, 1)

    flag, changes = apply_signals(Flag(), [late_start, early_stop])

    assert not flag.on
    assert [c.value for c in changes] == [True, False]


def test_a_stop_sent_before_a_start_but_arriving_after_it_is_ignored() -> None:
    flag, _ = apply_signals(Flag(), [signal(Signal.START_KEYWORD, 2)])
    flag, changes = apply_signals(flag, [signal(Signal.STOP_KEYWORD, 1)])

    assert not flag.on
    assert changes == []


def test_a_signal_older_than_the_flags_change_is_ignored() -> None:
    keyword = opted_out("meta_marketing_stop", "meta", 10)

    flag, _ = apply_signals(keyword, [signal(Signal.WROTE, 5)])

    assert flag == keyword


def test_a_streak_below_the_threshold_keeps_the_contact_active() -> None:
    flag, changes = apply_streak(Flag(), Streak(2, at(2), None), 3)

    assert not flag.on
    assert changes == []


def test_a_streak_at_the_threshold_makes_the_contact_inactive() -> None:
    flag, changes = apply_streak(Flag(), Streak(3, at(3), None), 3)

    assert flag == Flag(True, "undeliverable_repeatedly", "rule", at(3))
    assert changes[0].note == "3 undeliverable sends in a row"


def test_a_delivery_after_the_streak_lifts_inactive() -> None:
    inactive = Flag(True, "undeliverable_repeatedly", "rule", at(3))

    flag, changes = apply_streak(inactive, Streak(0, at(3), at(4)), 3)

    assert not flag.on
    assert changes[0].reason == "delivered"


def test_a_delivery_before_the_streak_keeps_inactive() -> None:
    inactive = Flag(True, "undeliverable_repeatedly", "rule", at(3))

    flag, _ = apply_streak(inactive, Streak(3, at(3), at(0)), 3)

    assert flag == inactive


def test_the_streak_never_overrides_an_agents_clearing() -> None:
    flag, changes = apply_streak(agent(False), Streak(5, at(5), None), 3)

    assert flag == agent(False)
    assert changes == []


def test_a_delivery_never_lifts_an_agents_inactive_flag() -> None:
    flag, changes = apply_streak(agent(True), Streak(0, at(3), at(4)), 3)

    assert flag == agent(True)
    assert changes == []


def test_delivered_read_and_played_are_deliveries() -> None:
    assert {outcome_of(s, 0) for s in ("delivered", "read", "played")} == {
        Outcome.DELIVERED
    }


def test_failures_follow_the_catalogues_contact_effect() -> None:
    assert outcome_of("failed", 131026) is Outcome.UNDELIVERABLE
    assert outcome_of("failed", 131050) is Outcome.MARKETING_STOP


def test_a_marketing_cap_failure_says_nothing_about_the_contact() -> None:
    assert outcome_of("failed", 131049) is Outcome.NOTHING


def test_sent_says_nothing_about_the_contact() -> None:
    assert outcome_of("sent", 0) is Outcome.NOTHING


def test_a_stop_tapped_on_a_button_is_a_button_opt_out() -> None:
    assert message_signal("button", True, False) is Signal.STOP_BUTTON
    assert message_signal("interactive", True, False) is Signal.STOP_BUTTON
    assert message_signal("text", True, False) is Signal.STOP_KEYWORD


def test_a_plain_message_is_writing_again() -> None:
    assert message_signal("text", False, False) is Signal.WROTE
    assert message_signal("text", False, True) is Signal.START_KEYWORD


def test_user_preferences_values() -> None:
    assert preference_signal("stop") is Signal.META_STOP
    assert preference_signal("Resume") is Signal.META_RESUME
    assert preference_signal("other") is None


def test_opted_out_wins_over_inactive() -> None:
    assert blocking_reason(True, True) == "opted_out"
    assert blocking_reason(False, True) == "inactive"
    assert blocking_reason(False, False) == ""
