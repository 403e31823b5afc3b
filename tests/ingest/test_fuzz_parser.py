"""The webhook parser, fuzzed in-process.

Whatever the bytes, parse_webhook returns or raises WebhookFormatError;
every element of a webhook becomes an event or a rejection, none is
dropped unseen; and however the JSON is spelt, it reads alike.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.ingest.parser import (
    ParsedWebhook,
    WebhookFormatError,
    parse_webhook,
)
from tests.examples import examples
from tests.ingest.fuzzing import (
    Spelling,
    any_text,
    decimals,
    digits,
    epochs,
    message_webhook,
    mutate,
    spell,
    spellings,
)
from tests.ingest.test_any_body import webhook

# Webhook-shaped documents take long to draw: fewer of them.
fuzzing = settings(
    max_examples=examples(3),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parse(body: bytes) -> ParsedWebhook | None:
    """The parse of body; None when it is no webhook at all."""
    try:
        return parse_webhook(body)
    except WebhookFormatError:
        return None


@settings(fuzzing, max_examples=examples(10))
@given(raw=st.binary(max_size=200))
@example(raw=b"[" * 100_000)
def test_any_bytes_are_read_or_refused_as_no_webhook(raw: bytes) -> None:
    parse(raw)


@fuzzing
@given(document=webhook, data=st.data())
def test_a_damaged_webhook_is_read_or_refused_as_no_webhook(
    document: Any, data: st.DataObject
) -> None:
    parse(mutate(json.dumps(document).encode(), data.draw))


def elements(document: dict[str, Any]) -> int:
    """How many events or rejections the parser owes for document.

    One for each element of a messaging change's arrays and each value
    of a WABA change, or one for what holds them when that is broken.
    """
    waba_fields = {
        "message_template_status_update",
        "phone_number_quality_update",
        "account_update",
    }
    arrays = ("statuses", "messages", "user_preferences", "errors")
    owed = 0
    for entry in document["entry"]:
        changes = entry.get("changes", []) if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            owed += 1
            continue
        for change in changes:
            if not isinstance(change, dict):
                owed += 1
                continue
            field, value = change.get("field"), change.get("value")
            if not isinstance(field, str):
                continue
            if field in waba_fields:
                owed += 1
            elif field not in ("messages", "user_preferences"):
                continue
            elif not isinstance(value, dict):
                owed += 1
            else:
                for key in arrays:
                    items = value.get(key, [])
                    owed += len(items) if isinstance(items, list) else 1
    return owed


@fuzzing
@given(document=webhook)
def test_every_element_becomes_an_event_or_a_rejection(document: Any) -> None:
    parsed = parse(json.dumps(document).encode())

    if parsed is not None:
        assert len(parsed.order) + len(parsed.rejected) == elements(document)


@settings(fuzzing, max_examples=examples(6))
@given(
    text=any_text,
    sender=digits,
    at=epochs,
    latitude=decimals,
    spelling=spellings,
)
@example(
    text="März 2/3 😀",
    sender="15550001234",
    at="1767000000",
    latitude=Decimal("1.50"),
    spelling=Spelling(ascii_only=True, slash=True, upper_hex=False, spaced=True),
)
def test_every_spelling_of_a_webhook_reads_alike(
    text: str, sender: str, at: str, latitude: Decimal, spelling: Spelling
) -> None:
    document = message_webhook(text, sender, at, latitude, "100000000000001")
    plain = orjson.dumps(document, default=float)

    spelt, read = parse(spell(document, spelling)), parse(plain)

    assert spelt is not None and read is not None
    assert spelt.batch == read.batch
    assert spelt.rejected == read.rejected
    (message,) = spelt.batch.messages
    assert message.text == text.replace("\x00", "")
