"""Sends Meta refused at the send call, as contacts must hear of them.

A send call Meta answers with an error brings no wamid, so no webhook
will ever tell of that message. The failures that say something about
the number (not on WhatsApp, not a valid number, marketing stopped) go
to contacts as a failed status would, for its failure streak and its
opt-outs; those about the business, the template or the moment say
nothing about the number and stay here. A rejection is named by its
recipient and attempt: the same send recorded twice is one rejection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from services.metrics.events import Send
from services.metrics.statuses import RecipientState
from xobito.failures import ContactEffect, lookup


@dataclass(frozen=True, slots=True)
class Rejection:
    workspace_id: str
    phone: str
    # The same for the same send, however often it is recorded.
    send_id: str
    error_code: int
    error_title: str
    at: datetime


# Hands rejections to contacts; raises when contacts did not record them.
RejectionSink = Callable[[Sequence[Rejection]], Awaitable[None]]


def rejection_of(
    workspace_id: str,
    phone: str,
    recipient_id: int,
    state: RecipientState,
    send: Send,
) -> Rejection | None:
    """What contacts must hear of a send; state is the recipient's after it.

    None for an accepted send, and for a rejection that says nothing
    about the number.
    """
    if not send.error_code:
        return None
    if lookup(send.error_code, send.error_title).contact_effect is ContactEffect.NONE:
        return None
    return Rejection(
        workspace_id,
        phone,
        f"rejected:{recipient_id}:{state.attempt}",
        send.error_code,
        send.error_title,
        state.failed_at or send.sent_at or datetime.now(UTC),
    )
