"""eraseContact: forget a phone number everywhere in the workspace.

Each service erases what it holds: contacts (the contact, its messages
and flag history), metrics (the number and name on campaign recipients,
whose statuses and counters stay), ingest (unroutable events and dead
letters that quote it). Contacts goes first, as it keeps the marker that
still refuses an opted-out number. Erasing is idempotent: when a service
fails halfway, calling the mutation again finishes the work.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
import structlog

from gateway.context import Info
from gateway.mutations.contact_flag import InvalidPhoneError
from xobito import phones

log = structlog.get_logger(__name__)


@strawberry.type(description="Nothing of the number is left in the workspace.")
class ContactErased:
    phone: str
    rows_erased: int = strawberry.field(
        description="Rows deleted or rewritten, over every service; 0 when "
        "the number was erased before."
    )


EraseContactResult = Annotated[
    ContactErased | InvalidPhoneError,
    strawberry.union("EraseContactResult"),
]


async def erase_contact(info: Info, phone: str) -> EraseContactResult:
    """Erase the number, its name and messages; campaign counts stay."""
    digits = phones.normalize(phone)
    if digits is None:
        return InvalidPhoneError(
            phone=phone, message="not a phone number: E.164 digits, 7 to 15"
        )

    context = info.context
    clients = context.clients
    erased = 0
    for service in (clients.contacts, clients.metrics, clients.ingest):
        erased += await service.erase_contact(context.workspace, digits)

    log.info("contact erased", rows=erased)
    return ContactErased(phone=digits, rows_erased=erased)
