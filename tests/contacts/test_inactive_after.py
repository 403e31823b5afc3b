"""INACTIVE_AFTER_FAILURES sets the streak that makes a contact inactive."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contacts.events import Stub, contact, failed, record
from tests.stack import Servers, Stack
from xobito.contacts.v1 import contacts_pb2_grpc


@pytest.fixture(scope="module")
def five_in_a_row(servers: Servers) -> Iterator[Stack]:
    """The contacts service, told that five failures in a row are enough."""
    stack = Stack(servers, extra_env={"INACTIVE_AFTER_FAILURES": "5"})
    try:
        stack.start("contacts")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stub(five_in_a_row: Stack, no_contacts: None) -> Iterator[Stub]:
    with five_in_a_row.channel("contacts") as channel:
        yield contacts_pb2_grpc.ContactsServiceStub(channel)


def test_four_undeliverable_sends_leave_the_contact_active(stub: Stub) -> None:
    record(stub, *(failed(minute) for minute in range(4)))

    found = contact(stub)
    assert (found.inactive, found.failure_streak) == (False, 4)


def test_the_fifth_undeliverable_send_makes_the_contact_inactive(stub: Stub) -> None:
    record(stub, *(failed(minute) for minute in range(4)))

    record(stub, failed(4))

    assert contact(stub).inactive is True
