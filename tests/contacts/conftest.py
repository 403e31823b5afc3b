"""The contacts service of the running system, for this package."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.contacts.events import Stub
from tests.stack import Servers, Stack
from xobito.contacts.v1 import contacts_pb2_grpc


@pytest.fixture(scope="package")
def contacts_service(stack: Stack) -> Stack:
    """The contacts service of the running system, reached over gRPC alone."""
    return stack


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
