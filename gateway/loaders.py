"""DataLoaders: one batched call for what a page's rows ask one by one.

Each request's context makes its own loaders, so nothing cached outlives
the request or crosses workspaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from gateway.clients import ContactsClient
from xobito.contacts.v1 import contacts_pb2 as cpb

ContactLoader = DataLoader[str, cpb.Contact | None]


def contact_loader(contacts: ContactsClient, workspace_id: str) -> ContactLoader:
    """Contacts by phone; None for a phone that is no known contact."""

    async def load(phones: Sequence[str]) -> list[cpb.Contact | None]:
        found = await contacts.get_contacts(workspace_id, list(phones))
        by_phone = {contact.phone: contact for contact in found}
        return [by_phone.get(phone) for phone in phones]

    return DataLoader(load_fn=load)
