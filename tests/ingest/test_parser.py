from __future__ import annotations

import json
from typing import Any

import pytest

from services.ingest.normalized import event_dicts
from services.ingest.parser import (
    CLOCK_SKEW_SECONDS,
    RejectedEvent,
    WebhookFormatError,
    parse_webhook,
)
from tests.cases import Case, load_cases

# Decided by the services once the event is matched against stored data.
OUTCOME_KEYS = {"matched", "duplicate", "routed"}
# A tampered case is about the signature check: nothing may be recorded,
# yet its body parses fine, so it says nothing about the parser.
CASES = [c for c in load_cases() if c.expect.get("sign", "valid") == "valid"]
METADATA = {
    "display_phone_number": "16505559999",
    "phone_number_id": "100000000000001",
}


def _body(field: str, value: dict[str, Any], **entry: Any) -> bytes:
    change = {"field": field, "value": value}
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [change], **entry}],
    }
    return json.dumps(document).encode()


def _statuses(*statuses: object) -> bytes:
    value = {"metadata": METADATA, "statuses": list(statuses)}
    return _body("messages", value)


def _messages(*messages: dict[str, Any], **extra: Any) -> bytes:
    value = {"metadata": METADATA, "messages": list(messages), **extra}
    return _body("messages", value)


def _status(**fields: Any) -> dict[str, Any]:
    return {
        "id": "wamid.A",
        "status": "delivered",
        "timestamp": "1772445605",
        "recipient_id": "16505551234",
        **fields,
    }


def _message(kind: str, content: Any, **fields: Any) -> dict[str, Any]:
    return {
        "from": "16505551234",
        "id": "wamid.IN",
        "timestamp": "1772445720",
        "type": kind,
        kind: content,
        **fields,
    }


def _only(body: bytes) -> dict[str, object]:
    (event,) = event_dicts(parse_webhook(body))
    return event


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_events_match_the_expectation(case: Case) -> None:
    expected = [
        {key: value for key, value in event.items() if key not in OUTCOME_KEYS}
        for event in case.expect["events"]
    ]

    events = []
    for body in case.posts():
        events += event_dicts(parse_webhook(body))

    assert events == expected


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case_rejects_no_element(case: Case) -> None:
    for body in case.posts():
        assert parse_webhook(body).rejected == []


def test_body_that_is_not_json_is_refused() -> None:
    with pytest.raises(WebhookFormatError, match="not valid JSON"):
        parse_webhook(b'{"object": "whatsapp_business_account", secret')


def test_refusal_does_not_quote_the_body() -> None:
    with pytest.raises(WebhookFormatError) as refused:
        parse_webhook(b'{"phone": "16505551234", oops')

    assert "16505551234" not in str(refused.value)
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__


def test_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(WebhookFormatError):
        parse_webhook(b'{"object": "\xff"}')


def test_json_array_is_refused() -> None:
    with pytest.raises(WebhookFormatError, match="not a JSON object"):
        parse_webhook(b'[{"object": "whatsapp_business_account"}]')


def test_other_object_is_refused_without_quoting_it() -> None:
    with pytest.raises(WebhookFormatError) as refused:
        parse_webhook(b'{"object": "instagram-secret", "entry": []}')

    assert "instagram-secret" not in str(refused.value)


def test_entry_that_is_not_a_list_is_refused() -> None:
    body = b'{"object": "whatsapp_business_account", "entry": {}}'

    with pytest.raises(WebhookFormatError, match="entries"):
        parse_webhook(body)


def test_nan_is_not_json() -> None:
    body = b'{"object": "whatsapp_business_account", "entry": [], "x": NaN}'

    with pytest.raises(WebhookFormatError):
        parse_webhook(body)


def test_status_without_id_is_rejected_and_the_rest_kept() -> None:
    broken = _status()
    del broken["id"]

    parsed = parse_webhook(_statuses(broken, _status(id="wamid.B")))

    assert [e["wamid"] for e in event_dicts(parsed)] == ["wamid.B"]
    assert parsed.rejected == [RejectedEvent("status", "status has no id")]


def test_status_without_timestamp_is_rejected() -> None:
    parsed = parse_webhook(_statuses(_status(timestamp="yesterday")))

    assert parsed.batch.statuses == []
    assert parsed.rejected[0].reason == "status has no valid timestamp"


def test_element_that_is_not_an_object_is_rejected() -> None:
    parsed = parse_webhook(_statuses("wamid.A", _status()))

    assert len(parsed.batch.statuses) == 1
    (rejected,) = parsed.rejected
    assert rejected == RejectedEvent("status", "status is not an object")


def test_text_that_is_no_valid_unicode_is_rejected() -> None:
    body = _statuses(_status(id="wamid.\ud800"), _status())

    parsed = parse_webhook(body)

    assert [s.wamid for s in parsed.batch.statuses] == ["wamid.A"]
    assert parsed.rejected == [RejectedEvent("status", "value not storable")]


def test_broken_entry_is_rejected_and_the_rest_kept() -> None:
    document = json.loads(_statuses(_status()))
    document["entry"].insert(0, "not an entry")

    parsed = parse_webhook(json.dumps(document).encode())

    assert len(parsed.batch.statuses) == 1
    assert parsed.rejected == [RejectedEvent("entry", "not an object")]


def test_unknown_field_is_skipped_silently() -> None:
    parsed = parse_webhook(_body("security", {"event": "PIN_CHANGED"}))

    assert event_dicts(parsed) == []
    assert parsed.rejected == []


def test_unknown_status_value_is_kept_raw() -> None:
    event = _only(_statuses(_status(status="held_for_quality")))

    assert event["status"] == "held_for_quality"
    assert event["known_status"] is False


def test_known_status_carries_no_known_status_key() -> None:
    assert "known_status" not in _only(_statuses(_status(status="played")))


def test_unknown_keys_are_ignored() -> None:
    event = _only(_statuses(_status(brand_new={"nested": [1, 2]})))

    assert event["wamid"] == "wamid.A"


def test_timestamp_comes_from_the_payload() -> None:
    event = _only(_statuses(_status(timestamp="1772445605")))

    assert event["timestamp"] == "2026-03-02T10:00:05Z"


def test_integer_timestamp_is_read_too() -> None:
    event = _only(_statuses(_status(timestamp=1772445605)))

    assert event["timestamp"] == "2026-03-02T10:00:05Z"


def test_numeric_ids_become_strings() -> None:
    event = _only(_statuses(_status(id=123, recipient_id=16505551234)))

    assert (event["wamid"], event["recipient"]) == ("123", "16505551234")


@pytest.mark.parametrize("big", [2**63 + 1, 2**64 + 1, 2**70 + 1])
def test_ids_beyond_64_bits_stay_exact(big: int) -> None:
    value = {"event": "APPROVED", "message_template_id": big}

    event = _only(_body("message_template_status_update", value))

    assert event["template_id"] == str(big)


def test_status_error_uses_metas_title_and_our_category() -> None:
    error = {"code": 131026, "title": "Message undeliverable"}

    event = _only(_statuses(_status(status="failed", errors=[error])))

    assert event["error"] == {
        "code": 131026,
        "category": "not_on_whatsapp",
        "retryable": False,
        "title": "Message undeliverable",
    }


def test_status_error_without_title_takes_ours() -> None:
    error = {"code": 131049}

    parsed = parse_webhook(_statuses(_status(status="failed", errors=[error])))

    assert parsed.batch.statuses[0].error.title == "Per-user marketing limit"


def test_status_error_keeps_message_and_details() -> None:
    error = {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "More than 24 hours have passed."},
    }

    parsed = parse_webhook(_statuses(_status(status="failed", errors=[error])))

    stored = parsed.batch.statuses[0].error
    assert stored.message == "Re-engagement message"
    assert stored.details == "More than 24 hours have passed."


def test_unknown_error_code_keeps_metas_title() -> None:
    error = {"code": 139999, "title": "New thing"}

    event = _only(_statuses(_status(status="failed", errors=[error])))

    assert event["error"] == {
        "code": 139999,
        "category": "unknown",
        "retryable": False,
        "title": "New thing",
    }


def test_status_keeps_pricing_and_conversation() -> None:
    status = _status(
        conversation={"id": "c0ffee"},
        pricing={
            "billable": False,
            "pricing_model": "PMP",
            "category": "utility",
        },
    )

    stored = parse_webhook(_statuses(status)).batch.statuses[0]

    assert stored.conversation_id == "c0ffee"
    assert stored.pricing_model == "PMP"
    assert stored.HasField("billable") and stored.billable is False


def test_group_status_keeps_its_recipient_type() -> None:
    event = _only(_statuses(_status(recipient_type="group")))

    assert event["recipient_type"] == "group"


def test_change_errors_become_error_events() -> None:
    error = {"code": 131000, "title": "Something went wrong"}
    value = {"metadata": METADATA, "errors": [error]}

    event = _only(_body("messages", value))

    assert event == {
        "kind": "error",
        "phone_number_id": "100000000000001",
        "wamid": None,
        "error": {
            "code": 131000,
            "category": "transient",
            "retryable": True,
            "title": "Something went wrong",
        },
    }


def test_events_keep_the_order_of_the_body() -> None:
    value = {
        "metadata": METADATA,
        "messages": [_message("text", {"body": "hi"})],
        "statuses": [_status()],
    }

    events = event_dicts(parse_webhook(_body("messages", value)))

    assert [event["kind"] for event in events] == ["message", "status"]


def test_bare_batch_renders_kind_by_kind() -> None:
    value = {
        "metadata": METADATA,
        "messages": [_message("text", {"body": "hi"})],
        "statuses": [_status()],
    }

    batch = parse_webhook(_body("messages", value)).batch

    assert [e["kind"] for e in event_dicts(batch)] == ["status", "message"]


def test_message_takes_the_profile_name_of_its_sender() -> None:
    contacts = [
        {"profile": {"name": "Someone Else"}, "wa_id": "16505550000"},
        {"profile": {"name": "Fixture User"}, "wa_id": "16505551234"},
    ]

    body = _messages(_message("text", {"body": "hi"}), contacts=contacts)

    assert parse_webhook(body).batch.messages[0].profile_name == "Fixture User"


def test_message_takes_the_user_id_of_its_contact() -> None:
    contacts = [{"wa_id": "16505551234", "user_id": "US.1"}]

    body = _messages(_message("text", {"body": "hi"}), contacts=contacts)

    event = _only(body)

    assert event["from_user_id"] == "US.1"


def test_message_from_a_user_id_only_sender_is_kept() -> None:
    contacts = [{"profile": {"name": "Named"}, "user_id": "US.7"}]
    message = _message("text", {"body": "hi"}, from_user_id="US.7")
    del message["from"]

    parsed = parse_webhook(_messages(message, contacts=contacts))

    (stored,) = parsed.batch.messages
    assert (stored.from_user_id, stored.profile_name) == ("US.7", "Named")


def test_message_without_a_sender_is_rejected() -> None:
    message = _message("text", {"body": "hi"})
    del message["from"]

    parsed = parse_webhook(_messages(message))

    (rejected,) = parsed.rejected
    assert rejected == RejectedEvent("message", "message has no sender")


def test_list_reply_gives_title_and_id() -> None:
    reply = {"type": "list_reply", "list_reply": {"id": "r2", "title": "Red"}}

    event = _only(_messages(_message("interactive", reply)))

    assert (event["text"], event["button_payload"]) == ("Red", "r2")


def test_media_message_text_is_its_caption() -> None:
    image = {"id": "media-1", "caption": "my receipt"}

    event = _only(_messages(_message("image", image)))

    assert event["text"] == "my receipt"


def test_media_message_without_caption_has_no_text() -> None:
    event = _only(_messages(_message("sticker", {"id": "media-2"})))

    assert event["text"] is None


def test_text_stop_keyword_opts_out() -> None:
    event = _only(_messages(_message("text", {"body": "Stop."})))

    assert event["opt_out"] is True


def test_text_sentence_with_stop_does_not_opt_out() -> None:
    event = _only(_messages(_message("text", {"body": "don't stop"})))

    assert event["opt_out"] is False


def test_text_start_keyword_opts_in() -> None:
    body = _messages(_message("text", {"body": "START"}))

    assert parse_webhook(body).batch.messages[0].opt_in


def test_button_with_stop_word_alone_is_not_an_opt_out() -> None:
    button = {"text": "Cancel", "payload": "cancel_booking"}

    event = _only(_messages(_message("button", button)))

    assert event["opt_out"] is False


def test_user_preference_resume_is_no_opt_out() -> None:
    preference = {
        "wa_id": "16505551238",
        "category": "marketing_messages",
        "value": "resume",
        "timestamp": 1772446200,
    }
    value = {"metadata": METADATA, "user_preferences": [preference]}

    event = _only(_body("user_preferences", value))

    assert event["opted_out"] is False


def test_approved_template_is_sendable() -> None:
    value = {"event": "APPROVED", "message_template_id": 9}

    event = _only(_body("message_template_status_update", value, time=1))

    assert event["sendable"] is True
    assert event["failure_category_if_sent"] is None


def test_waba_event_without_entry_time_has_no_time() -> None:
    value = {"event": "DISABLED", "message_template_id": 9}

    event = _only(_body("message_template_status_update", value))

    assert event["at"] is None


def test_quality_upgrade_carries_no_warning() -> None:
    value = {"event": "UPGRADE", "current_limit": "TIER_100K"}

    event = _only(_body("phone_number_quality_update", value, time=1))

    assert event["warning_category"] is None


def test_verified_account_carries_no_warning() -> None:
    value = {"event": "VERIFIED_ACCOUNT"}

    event = _only(_body("account_update", value, time=1))

    assert (event["restrictions"], event["warning_category"]) == ([], None)


def test_account_ban_is_an_account_problem() -> None:
    ban = {"waba_ban_state": "DISABLE"}
    value = {"event": "DISABLED_UPDATE", "ban_info": ban}

    event = _only(_body("account_update", value, time=1))

    assert event["warning_category"] == "account_problem"


def test_account_reinstated_carries_no_warning() -> None:
    ban = {"waba_ban_state": "REINSTATE"}
    value = {"event": "DISABLED_UPDATE", "ban_info": ban}

    event = _only(_body("account_update", value, time=1))

    assert event["warning_category"] is None


ARRIVED = 1_772_445_700


def test_an_event_dated_past_the_skew_after_arrival_is_dated_at_arrival() -> None:
    late = ARRIVED + CLOCK_SKEW_SECONDS + 1
    body = _messages(_message("text", {"body": "START"}, timestamp=str(late)))

    parsed = parse_webhook(body, ARRIVED)

    assert parsed.batch.messages[0].occurred_at.seconds == ARRIVED
    assert parsed.redated == 1


def test_an_event_dated_within_the_skew_after_arrival_keeps_its_time() -> None:
    ahead = ARRIVED + CLOCK_SKEW_SECONDS
    body = _messages(_message("text", {"body": "hi"}, timestamp=str(ahead)))

    parsed = parse_webhook(body, ARRIVED)

    assert parsed.batch.messages[0].occurred_at.seconds == ahead
    assert parsed.redated == 0


def test_a_user_preference_dated_far_ahead_keeps_its_time() -> None:
    # It has no id: its time tells Meta's redelivery of it from a new one.
    late = ARRIVED + 86_400
    preference = {
        "wa_id": "16505551234",
        "detail": "User requested to stop marketing messages",
        "category": "marketing_messages",
        "value": "stop",
        "timestamp": late,
    }
    value = {"metadata": METADATA, "user_preferences": [preference]}

    parsed = parse_webhook(_body("user_preferences", value), ARRIVED)

    assert parsed.batch.user_preferences[0].occurred_at.seconds == late
    assert parsed.redated == 0


def test_a_status_dated_far_ahead_keeps_its_time() -> None:
    # Its time tells Meta's redelivery of it from a new status.
    late = ARRIVED + 86_400
    body = _statuses(_status(timestamp=str(late)))

    parsed = parse_webhook(body, ARRIVED)

    assert parsed.batch.statuses[0].occurred_at.seconds == late
    assert parsed.redated == 0


def test_without_the_time_of_arrival_every_event_keeps_its_time() -> None:
    body = _statuses(_status(timestamp="253402300799"))

    parsed = parse_webhook(body)

    assert parsed.batch.statuses[0].occurred_at.seconds == 253_402_300_799
    assert parsed.redated == 0


def test_a_failed_status_takes_the_first_usable_of_its_errors() -> None:
    body = _statuses(
        _status(
            status="failed",
            errors=[None, 1.5, "x", {"title": "no code"}, {"code": 131026}],
        )
    )

    (status,) = parse_webhook(body).batch.statuses

    assert status.error.code == 131026


@pytest.mark.parametrize("name", ["x" * 33, "5", "read; drop", "délivré"])
def test_a_status_without_a_status_name_is_rejected(name: str) -> None:
    parsed = parse_webhook(_statuses(_status(status=name), _status(id="wamid.B")))

    assert [s.wamid for s in parsed.batch.statuses] == ["wamid.B"]
    assert parsed.rejected == [RejectedEvent("status", "status has no status name")]


def test_a_status_name_meta_may_add_later_is_kept() -> None:
    (status,) = parse_webhook(_statuses(_status(status="bounced"))).batch.statuses

    assert status.status == "bounced"
