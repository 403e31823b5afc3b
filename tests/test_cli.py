"""The operator's commands, run as an operator runs them."""

from __future__ import annotations

import subprocess
import sys

from tests.stack import Servers


def xobito(servers: Servers, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xobito", *args],
        env={"DATABASE_URL": servers.postgres.url, "PATH": ""},
        capture_output=True,
        text=True,
    )


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
