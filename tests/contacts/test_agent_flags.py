"""Agents' decisions on flags, and the audit trail, over real gRPC."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from tests.contacts.events import (
    PHONE,
    T0,
    WORKSPACE,
    Stub,
    contact,
    failed,
    message,
    record,
    sendability,
    status,
)
from xobito.contacts.v1 import contacts_pb2 as cpb

OPTED_OUT = cpb.CONTACT_FLAG_OPTED_OUT
INACTIVE = cpb.CONTACT_FLAG_INACTIVE


def set_flag(
    stub: Stub, flag: cpb.ContactFlag.ValueType, note: str = "", phone: str = PHONE
) -> cpb.Contact:
    request = cpb.SetFlagRequest(
        workspace_id=WORKSPACE, phone=phone, flag=flag, note=note, agent="ana"
    )
    reply: cpb.SetFlagResponse = stub.SetFlag(request)
    return reply.contact


def clear_flag(
    stub: Stub, flag: cpb.ContactFlag.ValueType, note: str = ""
) -> cpb.Contact:
    request = cpb.ClearFlagRequest(
        workspace_id=WORKSPACE, phone=PHONE, flag=flag, note=note, agent="ana"
    )
    reply: cpb.ClearFlagResponse = stub.ClearFlag(request)
    return reply.contact


def from_now() -> int:
    """Minutes after T0 that are later than an agent's decision made now."""
    return int((datetime.now(UTC) - T0).total_seconds() // 60) + 1


def flag_history(stub: Stub, page_size: int = 0) -> list[cpb.FlagChange]:
    changes: list[cpb.FlagChange] = []
    token = ""
    while True:
        page = stub.ListFlagHistory(
            cpb.ListFlagHistoryRequest(
                workspace_id=WORKSPACE,
                phone=PHONE,
                page_size=page_size,
                page_token=token,
            )
        )
        changes.extend(page.changes)
        token = page.next_page_token
        if not token:
            return changes


def test_an_agent_opts_out_a_number_never_seen(stub: Stub) -> None:
    found = set_flag(stub, OPTED_OUT, "asked by phone", phone="+1 650 555 1234")

    assert found.phone == PHONE
    assert found.opted_out_reason == "agent_set"
    assert sendability(stub, PHONE) == [(PHONE, False, "opted_out")]


def test_a_start_keyword_does_not_lift_an_agents_opt_out(stub: Stub) -> None:
    set_flag(stub, OPTED_OUT)

    record(stub, message(from_now(), "START", opt_in=True))

    assert contact(stub).opted_out


def test_an_agent_clears_a_keyword_opt_out(stub: Stub) -> None:
    record(stub, message(1, "STOP", opt_out=True))

    found = clear_flag(stub, OPTED_OUT, "opted out by mistake")

    assert not found.opted_out
    assert sendability(stub, PHONE) == [(PHONE, True, "")]


def test_a_late_stop_does_not_undo_an_agents_clearing(stub: Stub) -> None:
    record(stub, message(1, "hi"))
    clear_flag(stub, OPTED_OUT)

    # Meta delivers an older STOP only now.
    record(stub, message(2, "STOP", opt_out=True))

    assert not contact(stub).opted_out


def test_a_new_stop_opts_out_again_after_an_agent_cleared(stub: Stub) -> None:
    record(stub, message(1, "STOP", opt_out=True))
    clear_flag(stub, OPTED_OUT)

    record(stub, message(from_now(), "STOP", opt_out=True))

    found = contact(stub)
    assert found.opted_out
    assert found.opted_out_reason == "stop_keyword"


def test_the_streak_does_not_undo_an_agents_clearing(stub: Stub) -> None:
    record(stub, failed(1), failed(2), failed(3))
    assert contact(stub).inactive

    clear_flag(stub, INACTIVE, "the number works again")
    later = from_now()
    record(stub, failed(later), failed(later + 1), failed(later + 2))

    assert not contact(stub).inactive


def test_a_delivery_does_not_lift_an_agents_inactive_flag(stub: Stub) -> None:
    set_flag(stub, INACTIVE, "the business closed")

    record(stub, status(from_now(), "delivered"))

    assert contact(stub).inactive


def test_the_audit_trail_names_who_decided_newest_first(stub: Stub) -> None:
    record(stub, message(1, "STOP", opt_out=True))
    clear_flag(stub, OPTED_OUT, "opted out by mistake")
    set_flag(stub, INACTIVE, "the business closed")

    changes = flag_history(stub, page_size=1)

    assert [
        (c.flag, c.value, c.reason, c.set_by, c.note, c.agent) for c in changes
    ] == [
        ("inactive", True, "agent_set", "agent", "the business closed", "ana"),
        ("opted_out", False, "agent_cleared", "agent", "opted out by mistake", "ana"),
        ("opted_out", True, "stop_keyword", "rule", f"wamid.in.{PHONE}.1", ""),
    ]


def test_a_phone_that_is_not_a_number_is_an_invalid_argument(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        set_flag(stub, OPTED_OUT, phone="not a number")

    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_a_flag_must_be_named(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        set_flag(stub, cpb.CONTACT_FLAG_UNSPECIFIED)

    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
