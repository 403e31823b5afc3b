"""Which workspace each event of a webhook belongs to.

Events about messages name the business number (phone_number_id); events
about templates, quality and the account name only the WABA (entry.id).
Metrics knows which workspace owns each; the Router asks it once per
webhook for the keys it has not seen lately.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.ingest.parser import BATCH_FIELDS
from xobito.ingest.v1 import events_pb2

# (event kind, EventBatch field) of the events that name a business number,
# then of those that name only a WABA.
BY_PHONE_NUMBER = tuple(
    (kind, BATCH_FIELDS[kind])
    for kind in ("status", "message", "user_preference", "error")
)
BY_WABA = tuple(
    (kind, BATCH_FIELDS[kind])
    for kind in ("template_status", "phone_quality", "account_update")
)


@dataclass(frozen=True)
class Routes:
    """Workspace of each known phone_number_id and WABA id."""

    phone_numbers: Mapping[str, str]
    wabas: Mapping[str, str]


# Looks up (phone_number_ids, waba_ids); answers only the keys it knows.
Resolver = Callable[[Sequence[str], Sequence[str]], Awaitable[Routes]]


@dataclass(frozen=True)
class Unroutable:
    """An event whose number or WABA belongs to no workspace."""

    kind: str
    route_key: str
    event: Any  # one of the event messages of events_pb2


_PHONE_NUMBER_FIELDS = frozenset(field for _, field in BY_PHONE_NUMBER)
_WABA_FIELDS = frozenset(field for _, field in BY_WABA)


def route_keys(batch: events_pb2.EventBatch) -> tuple[set[str], set[str]]:
    """The phone_number_ids and WABA ids that batch's events name."""
    phone_number_ids: set[str] = set()
    waba_ids: set[str] = set()
    # ListFields: only the lists batch holds events in, at half the cost.
    for field, events in batch.ListFields():
        if field.name in _PHONE_NUMBER_FIELDS:
            phone_number_ids.update(event.phone_number_id for event in events)
        elif field.name in _WABA_FIELDS:
            waba_ids.update(event.waba_id for event in events)
    phone_number_ids.discard("")
    waba_ids.discard("")
    return phone_number_ids, waba_ids


class Router:
    """Resolves route keys, remembering found ones for ttl_seconds.

    Unknown keys are asked again every time: the number of a campaign
    created a second ago must route at once.
    """

    def __init__(
        self,
        resolver: Resolver,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._phone_numbers: dict[str, tuple[str, float]] = {}
        self._wabas: dict[str, tuple[str, float]] = {}

    async def resolve(
        self,
        phone_number_ids: set[str],
        waba_ids: set[str],
    ) -> Routes:
        now = self._clock()
        phone_numbers, missing_phone_numbers = _cached(
            self._phone_numbers, phone_number_ids, now
        )
        wabas, missing_wabas = _cached(self._wabas, waba_ids, now)
        if not missing_phone_numbers and not missing_wabas:
            return Routes(phone_numbers, wabas)

        found = await self._resolver(
            sorted(missing_phone_numbers), sorted(missing_wabas)
        )
        expires_at = self._clock() + self._ttl_seconds
        for key, workspace_id in found.phone_numbers.items():
            self._phone_numbers[key] = (workspace_id, expires_at)
            phone_numbers[key] = workspace_id
        for key, workspace_id in found.wabas.items():
            self._wabas[key] = (workspace_id, expires_at)
            wabas[key] = workspace_id
        return Routes(phone_numbers, wabas)


def _cached(
    cache: dict[str, tuple[str, float]], keys: set[str], now: float
) -> tuple[dict[str, str], set[str]]:
    found = {}
    missing = set()
    for key in keys:
        entry = cache.get(key)
        if entry is not None and entry[1] > now:
            found[key] = entry[0]
        else:
            missing.add(key)
    return found, missing


def split(batch: events_pb2.EventBatch, routes: Routes) -> list[Unroutable]:
    """Set workspace_id on batch's routable events, remove the others.

    Returns the removed events. batch is changed in place: copying a
    batch of thousands of statuses on every webhook would cost more than
    the rest of the routing.
    """
    unroutable: list[Unroutable] = []
    for fields, table, key_name in (
        (BY_PHONE_NUMBER, routes.phone_numbers, "phone_number_id"),
        (BY_WABA, routes.wabas, "waba_id"),
    ):
        for kind, field in fields:
            events = getattr(batch, field)
            lost = _route_in_place(events, table, key_name)
            if not lost:
                continue
            unroutable += [
                Unroutable(kind, getattr(event, key_name), event)
                for event in (events[i] for i in lost)
            ]
            for i in reversed(lost):
                del events[i]
    return unroutable


def _route_in_place(
    events: Any,
    table: Mapping[str, str],
    key_name: str,
) -> list[int]:
    lost = []
    for i, event in enumerate(events):
        workspace_id = table.get(getattr(event, key_name))
        if workspace_id:
            event.workspace_id = workspace_id
        else:
            lost.append(i)
    return lost
