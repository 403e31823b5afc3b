"""A batch looks its contacts up by key, however many contacts there are.

The planner knows the contacts table only as large as it last measured
it; a join of a batch's keys with the table may then run as a scan of
every contact, whose cost grows with the table instead of the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from services.contacts.erasure import _CARRY_OVER, CARRIED_OVER
from services.contacts.store import _LOCK_CONTACTS
from tests.contacts.events import WORKSPACE
from tests.stack import Servers

CONTACTS = 60_000
BATCH = 400


@pytest.fixture
def many_contacts(servers: Servers, no_contacts: None) -> list[str]:
    """A workspace of many contacts the planner has not measured; a batch's phones."""
    with psycopg.connect(servers.postgres.url) as conn:
        conn.execute(
            "INSERT INTO contacts.contacts (workspace_id, phone)"
            " SELECT %s, (16500000000 + g)::text FROM generate_series(1, %s) g",
            [WORKSPACE, CONTACTS],
        )
    return [str(16500000000 + g) for g in range(1, CONTACTS, CONTACTS // BATCH)]


def _plan(url: str, statement: str, params: Any) -> str:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"EXPLAIN {statement}", params).fetchall()
        conn.rollback()
    return "\n".join(row[0] for row in rows)


def _lock_params(phones: list[str]) -> Any:
    return [[WORKSPACE] * len(phones), phones, [True] * len(phones)]


def _carry_over_params(phones: list[str]) -> Any:
    return {
        "workspace_ids": [WORKSPACE] * len(phones),
        "phones": phones,
        "markers": [f"erased:{phone}" for phone in phones],
        "note": CARRIED_OVER,
    }


@pytest.mark.parametrize(
    ("statement", "params"),
    [(_LOCK_CONTACTS, _lock_params), (_CARRY_OVER, _carry_over_params)],
    ids=["locking the contacts", "carrying the markers over"],
)
def test_a_batchs_statement_scans_no_table(
    servers: Servers,
    many_contacts: list[str],
    statement: str,
    params: Callable[[list[str]], Any],
) -> None:
    plan = _plan(servers.postgres.url, statement, params(many_contacts))

    assert "Seq Scan on contacts" not in plan, plan
