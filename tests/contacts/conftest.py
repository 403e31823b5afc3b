"""The contacts service alone, in its own process, for this package."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.contacts.events import Stub
from tests.stack import Servers, Stack
from xobito.contacts.v1 import contacts_pb2_grpc


@pytest.fixture(scope="package")
def contacts_service(servers: Servers) -> Iterator[Stack]:
    stack = Stack(servers)
    try:
        stack.start("contacts")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def no_contacts(servers: Servers) -> None:
    """Start with no contact recorded; this service's schema only."""
    with psycopg.connect(servers.postgres.url) as conn:
        conn.execute(
            "TRUNCATE contacts.contacts, contacts.messages,"
            " contacts.flag_changes, contacts.undeliverable_sends,"
            " contacts.keywords"
        )


@pytest.fixture
def stub(contacts_service: Stack, no_contacts: None) -> Iterator[Stub]:
    with contacts_service.channel("contacts") as channel:
        yield contacts_pb2_grpc.ContactsServiceStub(channel)
