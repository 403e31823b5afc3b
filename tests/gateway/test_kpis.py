from __future__ import annotations

from gateway import kpis


def test_a_percentage_has_one_decimal() -> None:
    assert kpis.percent(1, 3) == 33.3
    assert kpis.percent(2, 3) == 66.7


def test_a_percentage_rounds_half_up_on_the_exact_fraction() -> None:
    # 1/16 is 6.25%: a float round() would give 6.2.
    assert kpis.percent(1, 16) == 6.3


def test_a_percentage_of_nothing_is_zero() -> None:
    assert kpis.percent(0, 0) == 0.0


def test_a_rate_with_nothing_to_divide_by_is_none() -> None:
    assert kpis.rate(0, 0) is None
    assert kpis.rate(3, 4) == 75.0


def test_a_healthy_campaign_has_no_warnings() -> None:
    assert kpis.warnings(sent=100, delivered=95, read=60, opted_out=0) == []


def test_low_delivery_warns_about_the_lists_hygiene() -> None:
    found = kpis.warnings(sent=100, delivered=80, read=60, opted_out=0)

    assert len(found) == 1
    assert found[0].startswith("Only 80.0% of sent messages were delivered")


def test_low_reading_warns_about_timing_and_audience() -> None:
    found = kpis.warnings(sent=100, delivered=95, read=20, opted_out=0)

    assert len(found) == 1
    assert "send time" in found[0]


def test_many_opt_outs_warn_about_the_message() -> None:
    found = kpis.warnings(sent=100, delivered=100, read=90, opted_out=5)

    assert found == [
        "5.0% of recipients opted out: review the message and how often"
        " this audience hears from you."
    ]


def test_too_few_sends_to_judge_give_no_warning() -> None:
    assert kpis.warnings(sent=19, delivered=1, read=0, opted_out=1) == []
