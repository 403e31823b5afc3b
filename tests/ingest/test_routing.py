from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.ingest.routing import Router, Routes, route_keys, split
from xobito.ingest.v1 import events_pb2

KNOWN_NUMBER = "100000000000001"
KNOWN_WABA = "200000000000001"
OWNER = "acme"


class Metrics:
    """Stands in for MetricsService/ResolveRoutes: it knows one number."""

    def __init__(self) -> None:
        self.asked: list[tuple[list[str], list[str]]] = []
        self.phone_numbers = {KNOWN_NUMBER: OWNER}
        self.wabas = {KNOWN_WABA: OWNER}

    async def resolve(
        self, phone_number_ids: Sequence[str], waba_ids: Sequence[str]
    ) -> Routes:
        self.asked.append((list(phone_number_ids), list(waba_ids)))
        return Routes(
            {
                k: self.phone_numbers[k]
                for k in phone_number_ids
                if k in self.phone_numbers
            },
            {k: self.wabas[k] for k in waba_ids if k in self.wabas},
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def resolve(router: Router, phone_numbers: set[str], wabas: set[str]) -> Routes:
    return asyncio.run(router.resolve(phone_numbers, wabas))


def test_a_found_route_is_not_asked_again_within_the_ttl() -> None:
    metrics, clock = Metrics(), Clock()
    router = Router(metrics.resolve, ttl_seconds=60, clock=clock)

    resolve(router, {KNOWN_NUMBER}, set())
    clock.now += 59
    routes = resolve(router, {KNOWN_NUMBER}, set())

    assert routes.phone_numbers == {KNOWN_NUMBER: OWNER}
    assert len(metrics.asked) == 1


def test_a_found_route_is_asked_again_after_the_ttl() -> None:
    metrics, clock = Metrics(), Clock()
    router = Router(metrics.resolve, ttl_seconds=60, clock=clock)

    resolve(router, {KNOWN_NUMBER}, set())
    clock.now += 61
    resolve(router, {KNOWN_NUMBER}, set())

    assert len(metrics.asked) == 2


def test_an_unknown_number_routes_as_soon_as_metrics_knows_it() -> None:
    metrics = Metrics()
    router = Router(metrics.resolve, ttl_seconds=60, clock=Clock())

    before = resolve(router, {"100000000000002"}, set())
    metrics.phone_numbers["100000000000002"] = OWNER
    after = resolve(router, {"100000000000002"}, set())

    assert before.phone_numbers == {}
    assert after.phone_numbers == {"100000000000002": OWNER}


def test_only_the_keys_missing_from_the_cache_are_asked() -> None:
    metrics = Metrics()
    router = Router(metrics.resolve, ttl_seconds=60, clock=Clock())

    resolve(router, {KNOWN_NUMBER}, set())
    routes = resolve(router, {KNOWN_NUMBER, "1"}, {KNOWN_WABA})

    assert metrics.asked[-1] == (["1"], [KNOWN_WABA])
    assert routes.phone_numbers == {KNOWN_NUMBER: OWNER}
    assert routes.wabas == {KNOWN_WABA: OWNER}


def test_a_webhook_without_route_keys_asks_nothing() -> None:
    metrics = Metrics()
    router = Router(metrics.resolve, ttl_seconds=60, clock=Clock())

    resolve(router, set(), set())

    assert metrics.asked == []


def test_messaging_events_route_by_number_and_others_by_waba() -> None:
    batch = events_pb2.EventBatch(
        statuses=[events_pb2.StatusEvent(phone_number_id="1")],
        messages=[events_pb2.InboundMessage(phone_number_id="2")],
        user_preferences=[events_pb2.UserPreference(phone_number_id="3")],
        errors=[events_pb2.ChangeError(phone_number_id="")],
        template_updates=[events_pb2.TemplateStatusUpdate(waba_id="7")],
        quality_updates=[events_pb2.PhoneQualityUpdate(waba_id="8")],
        account_updates=[events_pb2.AccountUpdate(waba_id="7")],
    )

    assert route_keys(batch) == ({"1", "2", "3"}, {"7", "8"})


def test_split_sets_the_workspace_of_routed_events() -> None:
    batch = events_pb2.EventBatch(
        statuses=[events_pb2.StatusEvent(phone_number_id=KNOWN_NUMBER)],
        template_updates=[events_pb2.TemplateStatusUpdate(waba_id=KNOWN_WABA)],
    )
    routes = Routes({KNOWN_NUMBER: OWNER}, {KNOWN_WABA: OWNER})

    unroutable = split(batch, routes)

    assert unroutable == []
    assert batch.statuses[0].workspace_id == OWNER
    assert batch.template_updates[0].workspace_id == OWNER


def test_split_takes_unroutable_events_out_of_the_batch() -> None:
    batch = events_pb2.EventBatch(
        statuses=[
            events_pb2.StatusEvent(phone_number_id="9", wamid="wamid.lost"),
            events_pb2.StatusEvent(
                phone_number_id=KNOWN_NUMBER,
                wamid="wamid.ok",
            ),
        ],
        quality_updates=[events_pb2.PhoneQualityUpdate(waba_id="8")],
    )
    routes = Routes({KNOWN_NUMBER: OWNER}, {})

    unroutable = split(batch, routes)

    assert [s.wamid for s in batch.statuses] == ["wamid.ok"]
    assert list(batch.quality_updates) == []
    assert [(u.kind, u.route_key) for u in unroutable] == [
        ("status", "9"),
        ("phone_quality", "8"),
    ]
    assert unroutable[0].event.wamid == "wamid.lost"
    assert unroutable[0].event.workspace_id == ""
