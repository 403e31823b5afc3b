"""setContactFlag and clearContactFlag: an agent's decision on a flag.

An agent's decision stands against every automatic rule; only a new stop
from the contact (or Meta's opt-out) overrides an agent's clearing.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import strawberry

from gateway.context import Info
from gateway.types.contact import Contact
from xobito import phones
from xobito.contacts.v1 import contacts_pb2 as cpb


@strawberry.enum(description="The flags that keep campaigns from a contact.")
class ContactFlag(Enum):
    OPTED_OUT = cpb.CONTACT_FLAG_OPTED_OUT
    INACTIVE = cpb.CONTACT_FLAG_INACTIVE


@strawberry.type(description="The flag is set or cleared as asked.")
class ContactFlagChanged:
    contact: Contact


@strawberry.type(description="The phone is not an E.164 number.")
class InvalidPhoneError:
    phone: str
    message: str


Agent = Annotated[
    str | None,
    strawberry.argument(description="Who decides: a name, an email address."),
]

ContactFlagResult = Annotated[
    ContactFlagChanged | InvalidPhoneError,
    strawberry.union("ContactFlagResult"),
]


async def set_contact_flag(
    info: Info,
    phone: str,
    flag: ContactFlag,
    note: str | None = None,
    agent: Agent = None,
) -> ContactFlagResult:
    """Set the flag; rules and Meta's resume will not lift it."""
    return await _decide(info, phone, flag, note, agent, setting=True)


async def clear_contact_flag(
    info: Info,
    phone: str,
    flag: ContactFlag,
    note: str | None = None,
    agent: Agent = None,
) -> ContactFlagResult:
    """Clear the flag; only the contact's own new stop sets it again."""
    return await _decide(info, phone, flag, note, agent, setting=False)


async def _decide(
    info: Info,
    phone: str,
    flag: ContactFlag,
    note: str | None,
    agent: str | None,
    *,
    setting: bool,
) -> ContactFlagResult:
    digits = phones.normalize(phone)
    if digits is None:
        return _invalid(phone)

    fields: dict[str, Any] = {
        "workspace_id": info.context.workspace,
        "phone": digits,
        "flag": flag.value,
        "note": note or "",
        "agent": agent or "",
    }
    contacts = info.context.contacts
    if setting:
        contact = await contacts.set_flag(cpb.SetFlagRequest(**fields))
    else:
        contact = await contacts.clear_flag(cpb.ClearFlagRequest(**fields))
    return ContactFlagChanged(contact=Contact.of(contact))


def _invalid(phone: str) -> InvalidPhoneError:
    return InvalidPhoneError(
        phone=phone, message="not a phone number: E.164 digits, 7 to 15"
    )
