"""The operator's commands, run as an operator runs them."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from gateway.apikeys import digest
from tests.stack import API_KEY_PEPPER, Servers


def xobito(
    servers: Servers, *args: str, pepper: str = API_KEY_PEPPER
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xobito", *args],
        env={
            "DATABASE_URL": servers.postgres.url,
            "API_KEY_PEPPER": pepper,
            "PATH": "",
        },
        capture_output=True,
        text=True,
    )


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def in_force(servers: Servers, key: str) -> bool:
    with psycopg.connect(servers.postgres.url) as conn:
        row = conn.execute(
            "SELECT revoked_at IS NULL OR revoked_at > now()"
            " FROM gateway.api_keys WHERE key_digest = %s",
            [digest(key, API_KEY_PEPPER)],
        ).fetchone()
    assert row is not None, "the key is not stored"
    return bool(row[0])


def test_apikey_create_prints_the_new_key_on_its_last_line(servers: Servers) -> None:
    done = xobito(servers, "apikey", "create", "--workspace", "cli-create")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("xo_")


def test_apikey_list_shows_a_prefix_never_the_key(servers: Servers) -> None:
    made = xobito(servers, "apikey", "create", "--workspace", "cli-list")
    key = made.stdout.strip().splitlines()[-1]

    listed = xobito(servers, "apikey", "list", "--workspace", "cli-list")

    assert key[:10] in listed.stdout
    assert key not in listed.stdout


def test_apikey_revoke_marks_the_key_revoked(servers: Servers) -> None:
    xobito(servers, "apikey", "create", "--workspace", "cli-revoke")
    listed = xobito(servers, "apikey", "list", "--workspace", "cli-revoke")
    key_id = listed.stdout.split()[0]

    revoked = xobito(servers, "apikey", "revoke", key_id)
    again = xobito(servers, "apikey", "revoke", key_id)

    assert revoked.returncode == 0
    assert (
        "revoked"
        in xobito(servers, "apikey", "list", "--workspace", "cli-revoke").stdout
    )
    assert again.returncode == 1


def test_apikey_create_refuses_a_workspace_name_that_is_not_a_slug(
    servers: Servers,
) -> None:
    done = xobito(servers, "apikey", "create", "--workspace", "Not A Slug")

    assert done.returncode == 2
    assert done.stderr.startswith("xobito: a workspace name is")
    assert "Traceback" not in done.stderr


def test_a_command_without_its_database_names_the_missing_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "xobito", "migrate"],
        env={"PATH": "", "XOBITO_DATA_DIR": "/nonexistent"},
        capture_output=True,
        text=True,
    )

    assert done.returncode == 2
    assert "DATABASE_URL is not set" in done.stderr


def test_apikey_create_needs_the_pepper(servers: Servers) -> None:
    done = xobito(servers, "apikey", "create", "--workspace", "cli-nopepper", pepper="")

    assert done.returncode == 2
    assert "API_KEY_PEPPER is not set" in done.stderr


def test_apikey_rotate_by_id_revokes_the_old_key_at_once(servers: Servers) -> None:
    old = last_line(xobito(servers, "apikey", "create", "--workspace", "cli-rot"))
    listed = xobito(servers, "apikey", "list", "--workspace", "cli-rot")
    key_id = listed.stdout.split()[0]

    new = last_line(xobito(servers, "apikey", "rotate", key_id))

    assert new.startswith("xo_") and new != old
    assert not in_force(servers, old)
    assert in_force(servers, new)


def test_apikey_rotate_by_name_gives_the_new_key_the_name(servers: Servers) -> None:
    create = ("apikey", "create", "--workspace", "cli-named", "--name", "dashboard")
    old = last_line(xobito(servers, *create))

    first = last_line(xobito(servers, "apikey", "rotate", "dashboard"))
    second = last_line(xobito(servers, "apikey", "rotate", "dashboard"))

    assert not in_force(servers, old)
    assert not in_force(servers, first)
    assert in_force(servers, second)
    listed = xobito(servers, "apikey", "list", "--workspace", "cli-named").stdout
    assert listed.count("dashboard") == 3


def test_apikey_rotate_with_grace_keeps_the_old_key_working(servers: Servers) -> None:
    old = last_line(xobito(servers, "apikey", "create", "--workspace", "cli-grace"))
    key_id = xobito(servers, "apikey", "list", "--workspace", "cli-grace").stdout
    key_id = key_id.split()[0]

    done = xobito(servers, "apikey", "rotate", key_id, "--grace", "3600")

    assert in_force(servers, old)
    assert in_force(servers, last_line(done))
    assert "works until" in done.stdout
    listed = xobito(servers, "apikey", "list", "--workspace", "cli-grace").stdout
    assert "active until" in listed


def test_apikey_rotate_of_an_unknown_key_says_so(servers: Servers) -> None:
    done = xobito(servers, "apikey", "rotate", "no-such-key")

    assert done.returncode == 1
    assert done.stderr == "xobito: no active key 'no-such-key'\n"


def test_apikey_rotate_asks_for_the_workspace_of_a_shared_name(
    servers: Servers,
) -> None:
    for workspace in ("cli-shared-a", "cli-shared-b"):
        xobito(servers, "apikey", "create", "--workspace", workspace, "--name", "ci")

    ambiguous = xobito(servers, "apikey", "rotate", "ci")
    chosen = xobito(servers, "apikey", "rotate", "ci", "--workspace", "cli-shared-b")

    assert ambiguous.returncode == 1
    assert "give --workspace" in ambiguous.stderr
    assert chosen.returncode == 0, chosen.stderr


def test_two_active_keys_of_a_workspace_cannot_share_a_name(
    servers: Servers,
) -> None:
    create = ("apikey", "create", "--workspace", "cli-dup", "--name", "ci")
    xobito(servers, *create)

    again = xobito(servers, *create)

    assert again.returncode == 2
    assert "already has an active key named ci" in again.stderr


def test_simulate_refuses_a_negative_number_of_recipients() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "xobito", "simulate", "--recipients", "-3"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert finished.returncode == 2
    assert "-3 is negative" in finished.stderr


def test_apikey_rotate_refuses_a_negative_grace() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "xobito", "apikey", "rotate", "ci", "--grace", "-5"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert finished.returncode == 2
    assert "-5 is negative" in finished.stderr


def test_a_command_other_than_reconcile_starts_without_telemetry() -> None:
    # OpenTelemetry's exporters would double every command's start-up.
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, xobito.cli; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert "xobito.telemetry" not in loaded.stdout
