"""No phone number and no message text in any log at INFO or above.

A whole simulated campaign is played against the running system while
the logs of every process (the four services, PostgreSQL and Valkey) are
read from where the stack keeps them. Every number the simulation used,
as the sender gave it and as Meta's webhooks carried it, and the text of
every message its recipients wrote, are then looked for in what the
processes logged meanwhile.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack import SERVICES, Stack
from xobito import simulate as simulator

# Levels below INFO; lines without a level (PostgreSQL's, Valkey's) count.
QUIET = {"debug", "notset"}


def log_files(stack: Stack) -> list[Path]:
    return [stack.log_path(service) for service in SERVICES] + [
        stack.servers.root / "servers.log"
    ]


def logged_since(offsets: dict[Path, int]) -> Iterator[tuple[Path, str]]:
    """Each line written since the offsets at INFO or above, as text."""
    for path, offset in offsets.items():
        with path.open("rb") as log:
            log.seek(offset)
            for raw in log.read().decode(errors="replace").splitlines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    yield path, raw
                    continue
                if str(entry.get("level", "")).lower() not in QUIET:
                    # Decoded, so that escaped text (emoji) reads as written.
                    yield path, json.dumps(entry, ensure_ascii=False)


def personal_data(bodies: list[bytes]) -> tuple[set[str], set[str]]:
    """The numbers and message texts in the webhooks the simulation sent."""
    phones: set[str] = set()
    texts: set[str] = set()
    for body in bodies:
        for entry in json.loads(body)["entry"]:
            for change in entry["changes"]:
                value: dict[str, Any] = change["value"]
                phones |= {s["recipient_id"] for s in value.get("statuses", [])}
                for contact in value.get("contacts", []):
                    phones.add(contact["wa_id"])
                for message in value.get("messages", []):
                    phones.add(message["from"])
                    if "text" in message:
                        texts.add(message["text"]["body"])
    return phones, texts


def test_a_whole_campaign_logs_no_phone_number_and_no_message_text(
    stack: Stack, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[bytes] = []
    post_bodies = simulator.post_bodies

    async def recording(bodies: list[bytes], *args: Any) -> int:
        sent.extend(bodies)
        return await post_bodies(bodies, *args)

    monkeypatch.setattr(simulator, "post_bodies", recording)
    offsets = {path: path.stat().st_size for path in log_files(stack)}
    target = stack.simulation_target(api_key)

    campaign, truth, reported, _ = asyncio.run(
        simulator.simulate(target, recipients=200, seed=53, duration=0)
    )
    recipients = stack.graphql(
        "query ($id: ID!) { campaign(id: $id) {"
        " recipients(first: 250) { edges { node { phone } } } } }",
        api_key,
        id=campaign,
    )["campaign"]["recipients"]["edges"]

    phones, texts = personal_data(sent)
    phones |= {row["node"]["phone"] for row in recipients}
    assert truth["replied"] > 0 and texts and len(phones) >= 150
    assert reported["sent"] == truth["sent"]
    leaks = [
        f"{path.name}: {line[:300]}"
        for path, line in logged_since(offsets)
        if any(phone in line for phone in phones) or any(text in line for text in texts)
    ]
    assert leaks == []
