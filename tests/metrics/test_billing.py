"""Each message's pricing, recorded once whatever order its statuses came in."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import permutations
from typing import Any

from services.metrics.billing import Pricing, pricings
from services.metrics.events import StatusReport

AT = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def report(wamid: str, status: str, **pricing: Any) -> tuple[StatusReport, str]:
    detail = {
        ("pricing_category" if key == "category" else key): value
        for key, value in pricing.items()
    }
    return StatusReport("ws", wamid, status, AT, detail=detail), "cmp_1"


def test_a_message_priced_twice_is_one_pricing() -> None:
    found = pricings(
        [
            report("wamid.1", "sent", billable=True, category="marketing"),
            report("wamid.1", "delivered", billable=True, category="marketing"),
        ]
    )

    assert found == [Pricing("wamid.1", "cmp_1", "marketing", True)]


def test_the_merged_pricing_does_not_depend_on_the_order() -> None:
    reports = [
        report("wamid.1", "sent", billable=False, category="service"),
        report("wamid.1", "delivered", billable=True, category="utility"),
        report("wamid.1", "read", billable=True, category="marketing"),
    ]

    found = {tuple(pricings(order)) for order in permutations(reports)}

    assert found == {(Pricing("wamid.1", "cmp_1", "marketing", True),)}


def test_a_status_without_pricing_is_left_out() -> None:
    found = pricings([report("wamid.1", "failed")])

    assert found == []
