"""The facts the metrics service records, as plain values.

The servicer turns requests into these; the domain modules never see a
protobuf message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


@dataclass(frozen=True, slots=True)
class NewRecipient:
    phone: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Send:
    """One message the sender handed to Meta (or tried to)."""

    phone: str
    wamid: str = ""
    sent_at: datetime | None = None
    # 0: Meta accepted the message; otherwise the send call's error.
    error_code: int = 0
    error_title: str = ""


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One of Meta's statuses for one message."""

    workspace_id: str
    wamid: str
    status: str
    occurred_at: datetime
    error_code: int = 0
    error_title: str = ""
    # The business number Meta sent it for.
    phone_number_id: str = ""
    # Pricing, conversation and the like: kept; pricing is counted (see
    # billing).
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, datetime]:
        """What makes two reports the same report."""
        return self.wamid, self.status, self.occurred_at


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """Something a contact wrote to a business (its text is not kept)."""

    workspace_id: str
    wamid: str
    phone: str
    occurred_at: datetime
    type: str
    context_wamid: str = ""
    opt_out: bool = False


@dataclass(frozen=True, slots=True)
class PreferenceChange:
    """A contact stopped (or resumed) marketing from the business."""

    workspace_id: str
    phone: str
    occurred_at: datetime
    opted_out: bool


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A template, quality or account update, or an error with no message."""

    workspace_id: str
    kind: str
    occurred_at: datetime
    payload: dict[str, Any]
    waba_id: str = ""
    phone_number_id: str = ""


@dataclass(frozen=True, slots=True)
class EventBatch:
    statuses: list[StatusReport] = field(default_factory=list)
    messages: list[InboundMessage] = field(default_factory=list)
    preferences: list[PreferenceChange] = field(default_factory=list)
    account_events: list[AccountEvent] = field(default_factory=list)


class Outcome(Enum):
    """What became of one status report."""

    APPLIED = 1
    DUPLICATE = 2
    # No send with this wamid yet: parked until RecordSends brings it.
    UNMATCHED = 3
