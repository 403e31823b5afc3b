"""`xobito dead-letters`: what ingest kept of webhooks, listed and replayed.

Run as an operator runs it, against the running system.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.ingest.test_endpoint import (
    RECIPIENT,
    WABA_ID,
    counters,
    delivered,
    sent,
)
from tests.stack import APP_SECRET, Stack
from xobito import webhooks
from xobito.devstack import free_port


def xobito(
    stack: Stack, *args: str, database_url: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xobito", "dead-letters", *args],
        env={
            "DATABASE_URL": database_url or stack.servers.postgres.url,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "INGEST_HTTP_PORT": str(stack.ports["ingest_http"]),
            "PATH": "",
        },
        capture_output=True,
        text=True,
    )


def unreadable_status(phone_number_id: str, wamid: str) -> bytes:
    """A body whose one status has a time no one can read."""
    status = webhooks.status(wamid, "delivered", 0, RECIPIENT)
    status["timestamp"] = "1767000005.5"
    return webhooks.body(
        waba_id=WABA_ID,
        phone_number_id=phone_number_id,
        display_phone_number="16505559999",
        statuses=[status],
    )


def letters(stack: Stack, wamid: str) -> list[dict[str, Any]]:
    with psycopg.connect(stack.servers.postgres.url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT id, kind, reason, received_at, last_received_at"
            " FROM ingest.dead_letters"
            " WHERE element->>'body' LIKE %s ORDER BY id",
            [f"%{wamid}%"],
        ).fetchall()


def keep(stack: Stack, kind: str, reason: str, element: dict[str, Any]) -> int:
    """A letter as ingest keeps one; its id."""
    with psycopg.connect(stack.servers.postgres.url) as conn:
        row = conn.execute(
            "INSERT INTO ingest.dead_letters"
            " (kind, reason, received_at, element, dedupe_key)"
            " VALUES (%s, %s, now(), %s::jsonb, gen_random_uuid()::text::bytea)"
            " RETURNING id",
            [kind, reason, orjson.dumps(element).decode()],
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def unreadable(stack: Stack) -> tuple[str, int]:
    """The wamid of a status ingest could not read, and its letter's id."""
    phone_number_id, wamid, _ = sent(stack)
    assert stack.post_webhook(unreadable_status(phone_number_id, wamid)).is_success
    (letter,) = letters(stack, wamid)
    return wamid, letter["id"]


def test_list_counts_letters_by_kind_and_reason_without_their_contents(
    stack: Stack, unreadable: tuple[str, int]
) -> None:
    wamid, letter_id = unreadable

    done = xobito(stack, "list", "--limit", "1000")

    assert done.returncode == 0, done.stderr
    assert "status: status has no valid timestamp" in done.stdout
    assert f"{letter_id:>7}  " in done.stdout
    assert wamid not in done.stdout and RECIPIENT not in done.stdout


def test_show_prints_the_body_kept(stack: Stack, unreadable: tuple[str, int]) -> None:
    wamid, letter_id = unreadable

    done = xobito(stack, "show", str(letter_id))

    assert done.returncode == 0, done.stderr
    shown = orjson.loads(done.stdout)
    assert shown["object"] == "whatsapp_business_account"
    assert wamid in done.stdout


def test_show_of_no_letter_says_so(stack: Stack) -> None:
    done = xobito(stack, "show", "999999999")

    assert done.returncode == 1
    assert "no dead letter 999999999" in done.stderr


def test_a_replay_that_meets_the_same_fault_keeps_the_letter(
    stack: Stack, unreadable: tuple[str, int]
) -> None:
    wamid, letter_id = unreadable
    (before,) = letters(stack, wamid)

    done = xobito(stack, "replay", str(letter_id))

    assert done.returncode == 1
    assert (
        f"kept again by ingest: status has no valid timestamp (letter {letter_id})"
        in (done.stdout)
    )
    (after,) = letters(stack, wamid)
    assert after["id"] == letter_id
    # Its first arrival stays; the replay is its last.
    assert after["received_at"] == before["received_at"]
    assert after["last_received_at"] > before["received_at"]


def test_a_replay_kept_under_another_reason_leaves_the_newer_letter(
    stack: Stack,
) -> None:
    phone_number_id, wamid, _ = sent(stack)
    body = unreadable_status(phone_number_id, wamid).decode()
    # As an earlier version of ingest worded its reason.
    letter_id = keep(stack, "status", "status time unusable", {"body": body})

    done = xobito(stack, "replay", str(letter_id))

    assert done.returncode == 1
    assert "kept again by ingest: status has no valid timestamp" in done.stdout
    (now,) = letters(stack, wamid)
    assert now["id"] != letter_id
    assert now["reason"] == "status has no valid timestamp"


def test_a_replay_once_the_fault_is_gone_records_the_body_and_drops_the_letter(
    stack: Stack,
) -> None:
    phone_number_id, wamid, campaign_id = sent(stack)
    # A body that met a fault of ingest's since fixed.
    body = delivered(phone_number_id, wamid).decode()
    letter_id = keep(stack, "webhook", "unexpected KeyError", {"body": body})

    done = xobito(stack, "replay", str(letter_id))

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{letter_id:>7}  recorded" in done.stdout
    assert letters(stack, wamid) == []
    assert counters(stack, campaign_id).delivered == 1

    # Replayed again, as if the first replay's answer were lost: once.
    again = keep(stack, "webhook", "unexpected KeyError", {"body": body})
    assert xobito(stack, "replay", str(again)).returncode == 0
    assert counters(stack, campaign_id).delivered == 1


def test_a_refused_batch_is_not_replayed(stack: Stack) -> None:
    letter_id = keep(stack, "metrics_batch", "metrics answered 3", {"statuses": []})

    done = xobito(stack, "replay", str(letter_id))

    assert done.returncode == 1
    assert "a refused batch" in done.stdout
    with psycopg.connect(stack.servers.postgres.url) as conn:
        kept = conn.execute(
            "DELETE FROM ingest.dead_letters WHERE id = %s", [letter_id]
        ).rowcount
    assert kept == 1


@pytest.mark.parametrize("named", [[], ["--all", "5"]], ids=["none", "both"])
def test_replay_takes_letters_named_or_all_of_them(
    stack: Stack, named: list[str]
) -> None:
    done = xobito(stack, "replay", *named)

    assert done.returncode == 2
    assert "name the letters to replay, or --all" in done.stderr


def test_without_its_database_the_command_says_so_in_a_line(stack: Stack) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"

    done = xobito(stack, "list", database_url=unreachable)

    assert done.returncode == 1
    assert done.stderr.startswith("xobito: the database cannot be reached")
    assert "Traceback" not in done.stderr


def test_show_escapes_text_no_encoding_takes(stack: Stack) -> None:
    # JSON may spell a lone surrogate, which ingest keeps as unstorable.
    letter_id = keep(
        stack, "message", "value not storable", {"body": '{"text": "\\ud800"}'}
    )

    done = xobito(stack, "show", str(letter_id))

    assert done.returncode == 0, done.stderr
    assert '"text": "\\ud800"' in done.stdout
