"""A workspace's own stop and start keywords."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from services.contacts.history import InboundMessage
from services.contacts.keywords import Keywords, cleaned, signal_of
from services.contacts.rules import Signal
from tests.contacts.events import WORKSPACE, Stub, contact, message, record
from xobito.contacts.v1 import contacts_pb2 as cpb
from xobito.errors import InvalidArgumentError

OWN = Keywords(stop=("darme de baja",), start=("quiero ofertas",))


def inbound(
    text: str, type: str = "text", signal: Signal = Signal.WROTE
) -> InboundMessage:
    return InboundMessage(
        "ws",
        "16505551234",
        "wamid.1",
        "",
        datetime.now(UTC),
        type,
        text,
        "",
        "",
        signal,
    )


def set_keywords(stub: Stub, stop: list[str], start: list[str]) -> cpb.Keywords:
    request = cpb.SetKeywordsRequest(
        workspace_id=WORKSPACE, stop_keywords=stop, start_keywords=start
    )
    reply: cpb.SetKeywordsResponse = stub.SetKeywords(request)
    return reply.keywords


# -- the rules -----------------------------------------------------------


def test_keywords_are_kept_normalized_sorted_and_once() -> None:
    own = cleaned(["Darme de BAJA!", "darme de baja", "Ya no"], ["Quiero ofertas"])

    assert own == Keywords(("darme de baja", "ya no"), ("quiero ofertas",))


@pytest.mark.parametrize(
    ("stop", "start"),
    [
        (["🙏"], []),
        (["x" * 65], []),
        (["basta ya"], ["Basta ya!"]),
        (["start"], []),
        ([], ["stop"]),
    ],
)
def test_a_keyword_that_cannot_be_one_is_refused(
    stop: list[str], start: list[str]
) -> None:
    with pytest.raises(InvalidArgumentError):
        cleaned(stop, start)


def test_a_workspace_stop_keyword_opts_out_a_text_message() -> None:
    assert signal_of(inbound("¡Darme de baja!"), OWN) is Signal.STOP_KEYWORD


def test_a_workspace_start_keyword_opts_back_in() -> None:
    assert signal_of(inbound("quiero ofertas"), OWN) is Signal.START_KEYWORD


def test_a_sentence_around_a_keyword_is_only_writing() -> None:
    assert signal_of(inbound("no quiero darme de baja"), OWN) is Signal.WROTE


def test_a_button_is_left_to_the_parser() -> None:
    assert signal_of(inbound("darme de baja", type="button"), OWN) is Signal.WROTE


def test_the_parsers_decision_stands() -> None:
    stop = inbound("STOP", signal=Signal.STOP_KEYWORD)

    assert signal_of(stop, OWN) is Signal.STOP_KEYWORD


# -- over gRPC -----------------------------------------------------------


def test_set_keywords_answers_what_is_kept(stub: Stub) -> None:
    kept = set_keywords(stub, ["Darme de baja!"], ["quiero ofertas"])

    assert list(kept.stop_keywords) == ["darme de baja"]
    assert list(kept.start_keywords) == ["quiero ofertas"]


def test_get_keywords_of_a_workspace_without_any_is_empty(stub: Stub) -> None:
    reply = stub.GetKeywords(cpb.GetKeywordsRequest(workspace_id="no-keywords"))

    assert list(reply.keywords.stop_keywords) == []


def test_a_workspace_keyword_opts_the_contact_out_and_back_in(stub: Stub) -> None:
    set_keywords(stub, ["darme de baja"], ["quiero ofertas"])

    record(stub, message(1, "Darme de baja"))
    stopped = contact(stub)
    record(stub, message(2, "Quiero ofertas"))

    assert stopped.opted_out_reason == "stop_keyword"
    assert not contact(stub).opted_out


def test_another_workspaces_keyword_is_only_writing(stub: Stub) -> None:
    stub.SetKeywords(
        cpb.SetKeywordsRequest(workspace_id="other", stop_keywords=["darme de baja"])
    )

    record(stub, message(1, "darme de baja"))

    assert not contact(stub).opted_out


def test_a_keyword_that_cannot_be_one_is_an_invalid_argument(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        set_keywords(stub, ["stop"], ["stop"])

    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT
