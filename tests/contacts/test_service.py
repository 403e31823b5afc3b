"""ContactsService through real gRPC and a real PostgreSQL.

Only the contacts service runs: events are built with the ingest protos,
as the ingest service would send them.
"""

from __future__ import annotations

from datetime import UTC

import grpc
import psycopg
import pytest

from services.contacts.servicer import ContactsServicer
from tests.contacts.events import (
    PHONE,
    WORKSPACE,
    Stub,
    at,
    contact,
    failed,
    message,
    preference,
    record,
    sendability,
    status,
)
from tests.stack import Servers
from xobito.contacts.v1 import contacts_pb2, contacts_pb2_grpc

# -- the contract --------------------------------------------------------


def test_every_rpc_of_the_service_is_implemented() -> None:
    service = contacts_pb2.DESCRIPTOR.services_by_name["ContactsService"]
    base = contacts_pb2_grpc.ContactsServiceServicer

    for method in service.methods:
        implemented = getattr(ContactsServicer, method.name)
        assert implemented is not getattr(base, method.name), method.name


# -- opt-outs ------------------------------------------------------------


def test_a_stop_keyword_opts_the_contact_out(stub: Stub) -> None:
    reply = record(stub, message(1, "STOP", opt_out=True))

    found = contact(stub)
    assert reply.opt_outs == 1
    assert found.opted_out
    assert found.opted_out_reason == "stop_keyword"
    assert found.opted_out_at.ToDatetime(tzinfo=UTC) == at(1)


def test_the_stop_promotions_button_opts_the_contact_out(stub: Stub) -> None:
    record(stub, message(1, "Stop promotions", type="button", opt_out=True))

    assert contact(stub).opted_out_reason == "stop_button"


def test_a_start_keyword_undoes_a_keyword_opt_out(stub: Stub) -> None:
    record(stub, message(1, "STOP", opt_out=True))

    record(stub, message(2, "START", opt_in=True))

    assert not contact(stub).opted_out


def test_a_start_keyword_is_writing_again_to_metas_opt_out(stub: Stub) -> None:
    record(stub, preference(1, "stop"))

    record(stub, message(2, "START", opt_in=True))

    assert not contact(stub).opted_out


def test_metas_opt_out_is_cleared_by_resume(stub: Stub) -> None:
    record(stub, preference(1, "stop"))
    assert contact(stub).opted_out

    record(stub, preference(2, "resume"))

    assert not contact(stub).opted_out


def test_metas_opt_out_is_cleared_when_the_contact_writes_again(
    stub: Stub,
) -> None:
    record(stub, preference(1, "stop"))

    record(stub, message(2, "Do you ship to Lisbon?"))

    assert not contact(stub).opted_out


def test_a_131050_failure_is_metas_opt_out(stub: Stub) -> None:
    reply = record(stub, failed(1, 131050))

    found = contact(stub)
    assert reply.opt_outs == 1
    assert found.opted_out_reason == "meta_marketing_stop"
    assert found.failure_streak == 0


# -- the failure streak --------------------------------------------------


def test_three_undeliverable_sends_make_the_contact_inactive(stub: Stub) -> None:
    record(stub, failed(1), failed(2))
    assert not contact(stub).inactive

    record(stub, failed(3))

    found = contact(stub)
    assert found.failure_streak == 3
    assert found.inactive
    assert found.inactive_reason == "undeliverable_repeatedly"


def test_a_delivery_resets_the_streak(stub: Stub) -> None:
    record(stub, failed(1), failed(2))

    record(stub, status(3, "delivered"))
    record(stub, failed(4))

    found = contact(stub)
    assert found.failure_streak == 1
    assert not found.inactive


def test_a_marketing_cap_failure_never_counts(stub: Stub) -> None:
    record(stub, *(failed(minute, 131049) for minute in range(1, 5)))

    found = contact(stub)
    assert found.failure_streak == 0
    assert not found.inactive


def test_a_failed_status_seen_twice_counts_once(stub: Stub) -> None:
    twice = failed(1, wamid="wamid.out.same")
    record(stub, twice, twice)
    record(stub, twice)

    assert contact(stub).failure_streak == 1


# -- messages ------------------------------------------------------------


def test_a_message_seen_twice_is_recorded_once(stub: Stub) -> None:
    first = record(stub, message(1, "hi"), message(1, "hi"))
    again = record(stub, message(1, "hi"))

    assert (first.messages_recorded, first.duplicates) == (1, 1)
    assert (again.messages_recorded, again.duplicates) == (0, 1)


def test_a_message_creates_the_contact_with_its_profile_name(stub: Stub) -> None:
    record(stub, message(1, "hi", name="Ana"))

    found = contact(stub)
    assert found.name == "Ana"
    assert found.last_inbound_at.ToDatetime(tzinfo=UTC) == at(1)


def test_an_unknown_contact_is_not_found(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        contact(stub, "15550000000")

    assert error.value.code() is grpc.StatusCode.NOT_FOUND


# -- FilterSendable ------------------------------------------------------


def test_filter_sendable_answers_in_request_order_with_reasons(
    stub: Stub,
) -> None:
    opted_out, inactive, both = "16505550001", "16505550002", "16505550003"
    record(
        stub,
        message(1, "stop", opt_out=True, phone=opted_out),
        *(failed(m, phone=inactive) for m in (1, 2, 3)),
        message(1, "stop", opt_out=True, phone=both),
        *(failed(m, phone=both) for m in (1, 2, 3)),
    )

    answer = sendability(stub, "15550009999", both, "+1 650-555-0002", opted_out)

    assert answer == [
        ("15550009999", True, ""),
        (both, False, "opted_out"),
        ("+1 650-555-0002", False, "inactive"),
        (opted_out, False, "opted_out"),
    ]


def test_filter_sendable_answers_ten_thousand_phones_in_one_call(
    stub: Stub,
) -> None:
    phones = [f"1650{n:07d}" for n in range(10_000)]
    record(stub, *(status(1, "delivered", phone=p) for p in phones[::2]))
    record(stub, message(1, "stop", opt_out=True, phone=phones[-1]))

    answer = sendability(stub, *phones)

    assert [phone for phone, _, _ in answer] == phones
    assert [sendable for _, sendable, _ in answer[:-1]] == [True] * 9_999
    assert answer[-1] == (phones[-1], False, "opted_out")


def test_filter_sendable_says_which_phones_cannot_be_numbers(stub: Stub) -> None:
    answer = sendability(stub, "", "abc", "+0015557770009", "16505550100")

    assert answer == [
        ("", False, "invalid_number"),
        ("abc", False, "invalid_number"),
        ("+0015557770009", False, "invalid_number"),
        ("16505550100", True, ""),
    ]


# -- history -------------------------------------------------------------


def test_history_pages_newest_first(stub: Stub) -> None:
    record(stub, message(1, "hi"), message(2, "STOP", opt_out=True))
    record(stub, message(3, "START", opt_in=True))

    items: list[contacts_pb2.HistoryItem] = []
    token = ""
    while True:
        page = stub.ListHistory(
            contacts_pb2.ListHistoryRequest(
                workspace_id=WORKSPACE, phone=PHONE, page_size=2, page_token=token
            )
        )
        items.extend(page.items)
        token = page.next_page_token
        if not token:
            break

    assert [(i.kind, i.text or i.reason) for i in items] == [
        ("flag_change", "start_keyword"),
        ("inbound_message", "START"),
        ("flag_change", "stop_keyword"),
        ("inbound_message", "STOP"),
        ("inbound_message", "hi"),
    ]


def test_a_bad_page_token_is_an_invalid_argument(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.ListHistory(
            contacts_pb2.ListHistoryRequest(
                workspace_id=WORKSPACE, phone=PHONE, page_token="not-a-token"
            )
        )

    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_late_status_does_not_bring_an_erased_number_back(stub: Stub) -> None:
    record(stub, status(1, "sent", wamid="wamid.before-erasure"))
    stub.EraseContact(
        contacts_pb2.EraseContactRequest(workspace_id=WORKSPACE, phone=PHONE)
    )

    record(stub, status(2, "read", wamid="wamid.before-erasure"))

    with pytest.raises(grpc.RpcError) as missing:
        contact(stub)
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND


def test_a_number_writing_after_its_erasure_is_a_contact_again(stub: Stub) -> None:
    record(stub, message(1, "hello"))
    stub.EraseContact(
        contacts_pb2.EraseContactRequest(workspace_id=WORKSPACE, phone=PHONE)
    )

    record(stub, message(2, "I am back", wamid="wamid.back"))

    assert contact(stub).phone == PHONE


def test_a_contact_made_while_its_number_was_erased_takes_the_markers_flag(
    stub: Stub, servers: Servers
) -> None:
    record(stub, message(1, "STOP", opt_out=True))
    stub.EraseContact(
        contacts_pb2.EraseContactRequest(workspace_id=WORKSPACE, phone=PHONE)
    )
    # What a batch recording the number during its erasure leaves behind.
    with psycopg.connect(servers.postgres.url) as conn:
        conn.execute(
            "INSERT INTO contacts.contacts (workspace_id, phone) VALUES (%s, %s)",
            [WORKSPACE, PHONE],
        )

    record(stub, message(2, "hello again", wamid="wamid.back"))

    assert contact(stub).opted_out_reason == "stop_keyword"
    assert sendability(stub, PHONE) == [(PHONE, False, "opted_out")]


def test_a_send_rejection_must_name_its_send(stub: Stub) -> None:
    rejection = contacts_pb2.SendRejection(
        workspace_id=WORKSPACE, phone=PHONE, error_code=131026
    )

    with pytest.raises(grpc.RpcError) as error:
        stub.RecordSendRejections(
            contacts_pb2.RecordSendRejectionsRequest(rejections=[rejection])
        )

    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
