"""A batch of statuses costs contacts four round trips to PostgreSQL at most."""

from __future__ import annotations

import asyncio

from services.contacts.erasure import ContactErasure
from services.contacts.rules import Outcome, SendOutcome
from services.contacts.store import ContactEvents, ContactStore, Recorded
from tests.contacts.events import WORKSPACE, at
from tests.round_trips import counting_round_trips
from tests.stack import Servers
from xobito.database import open_pool


def test_a_batch_of_statuses_takes_four_round_trips_at_most(
    servers: Servers, no_contacts: None
) -> None:
    outcomes = [
        SendOutcome(WORKSPACE, "16505551234", "wamid.A", Outcome.DELIVERED, at(1)),
        SendOutcome(WORKSPACE, "16505551235", "wamid.B", Outcome.DELIVERED, at(2)),
        SendOutcome(
            WORKSPACE, "16505551236", "wamid.C", Outcome.UNDELIVERABLE, at(3), 131026
        ),
    ]

    async def record() -> tuple[Recorded, int]:
        pool = await open_pool(servers.postgres.url, min_size=1, max_size=1)
        try:
            store = ContactStore(pool, 3, ContactErasure(pool, "an-erasure-key"))
            with counting_round_trips() as round_trips:
                recorded = await store.record(ContactEvents(outcomes=outcomes))
            return recorded, round_trips[0]
        finally:
            await pool.close()

    recorded, round_trips = asyncio.run(record())

    assert recorded.undeliverable == 1
    # At most one each for BEGIN (psycopg syncs after it), the erased
    # numbers' flags with the contacts and the undeliverable send, locking
    # the contacts with their streaks, the new streak with COMMIT. An
    # answer there already needs no wait. Each statement its own round
    # trip made seven.
    assert round_trips <= 4
