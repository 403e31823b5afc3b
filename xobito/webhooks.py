"""Meta's WhatsApp Cloud API webhook bodies, built the way Meta builds them.

Used by the simulator, the tests and the benchmark to speak to ingest in
the exact format of the real thing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

import orjson

JSON = dict[str, Any]


def sign(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header value for body."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def status(
    wamid: str,
    value: str,
    timestamp: int,
    recipient: str,
    *,
    error_code: int = 0,
    error_title: str = "",
) -> JSON:
    item: JSON = {
        "id": wamid,
        "status": value,
        "timestamp": str(timestamp),
        "recipient_id": recipient,
    }
    if value == "failed":
        item["errors"] = [
            {"code": error_code, "title": error_title, "message": error_title}
        ]
    else:
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "marketing",
            "type": "regular",
        }
    return item


def text_message(
    wamid: str,
    sender: str,
    timestamp: int,
    text: str,
    *,
    context_wamid: str = "",
    business_number: str = "",
) -> JSON:
    item: JSON = {
        "from": sender,
        "id": wamid,
        "timestamp": str(timestamp),
        "type": "text",
        "text": {"body": text},
    }
    if context_wamid:
        item["context"] = {"from": business_number, "id": context_wamid}
    return item


def body(
    *,
    waba_id: str,
    phone_number_id: str,
    display_phone_number: str,
    statuses: Sequence[JSON] = (),
    messages: Sequence[JSON] = (),
    contacts: Sequence[JSON] = (),
) -> bytes:
    """One webhook body holding the given statuses and messages."""
    value: JSON = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": display_phone_number,
            "phone_number_id": phone_number_id,
        },
    }
    if contacts:
        value["contacts"] = list(contacts)
    if statuses:
        value["statuses"] = list(statuses)
    if messages:
        value["messages"] = list(messages)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }
    return orjson.dumps(payload)
