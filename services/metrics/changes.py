"""Recipient states changing in one transaction, and what they add up to.

Changes are folds (see statuses): RowChanges keeps each locked row's
state before and after, writes the rows that changed and the counter
deltas they make, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.metrics import ledger, outbox
from services.metrics.events import StatusReport
from services.metrics.ledger import Conn, LockedRecipient
from services.metrics.outbox import OutboxRow
from services.metrics.statuses import (
    Failure,
    RecipientState,
    apply_status,
    counter_deltas,
)
from xobito import failures


def failure_of(code: int, meta_title: str) -> Failure:
    info = failures.lookup(code, meta_title)
    return Failure(code, meta_title, info.category.value)


def apply_report(state: RecipientState, report: StatusReport) -> RecipientState:
    failure = None
    if report.error_code:
        failure = failure_of(report.error_code, report.error_title)
    return apply_status(state, report.status, report.occurred_at, failure)


class RowChanges:
    """The locked rows' states, folded one change at a time."""

    def __init__(
        self, rows: Iterable[LockedRecipient], new_ids: Iterable[int] = ()
    ) -> None:
        created = set(new_ids)
        self._campaigns: dict[int, str] = {}
        self._before: dict[int, RecipientState | None] = {}
        self.states: dict[int, RecipientState] = {}
        for row in rows:
            self._campaigns[row.id] = row.campaign_id
            self._before[row.id] = None if row.id in created else row.state
            self.states[row.id] = row.state

    def fold(
        self, recipient_id: int, change: Callable[[RecipientState], RecipientState]
    ) -> bool:
        """Apply change to the recipient's state; True if it changed it."""
        old = self.states[recipient_id]
        self.states[recipient_id] = change(old)
        return self.states[recipient_id] != old

    async def write(
        self, conn: Conn, written: dict[str, list[int]] | None = None
    ) -> list[OutboxRow]:
        """Update the changed rows and record their counter deltas.

        written, if given, receives the changed recipients' ids by campaign.
        """
        changed = []
        deltas: dict[str, dict[str, int]] = {}
        for recipient_id, state in self.states.items():
            before = self._before[recipient_id]
            if before is not None and state == before:
                continue
            changed.append((recipient_id, state))
            campaign = deltas.setdefault(self._campaigns[recipient_id], {})
            # A new row was inserted PENDING; its delta counts it afresh.
            for field, by in counter_deltas(before, state).items():
                campaign[field] = campaign.get(field, 0) + by
        await ledger.update_recipients(conn, changed)
        if written is not None:
            written.clear()  # a retried transaction starts afresh
            for recipient_id, _ in changed:
                campaign_id = self._campaigns[recipient_id]
                written.setdefault(campaign_id, []).append(recipient_id)
        return await outbox.insert(conn, deltas)
