from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.examples import SUITE
from tests.stack import (
    API_KEY_PEPPER,
    Servers,
    Stack,
    reset_data,
    running_servers,
)

# Before the test modules are imported: their settings scale its count.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", SUITE))


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Throwaway PostgreSQL and Valkey, migrated, for the whole session."""
    with running_servers(tmp_path_factory.mktemp("servers")) as started:
        yield started


@pytest.fixture(scope="session")
def stack(servers: Servers) -> Iterator[Stack]:
    """Every service running in its own process against the servers."""
    started = Stack(servers)
    try:
        started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def api_key(servers: Servers) -> str:
    """A key of the workspace `test`, made the way an operator makes one."""
    out = subprocess.run(
        [sys.executable, "-m", "xobito", "apikey", "create", "--workspace", "test"],
        env={
            "DATABASE_URL": servers.postgres.url,
            "API_KEY_PEPPER": API_KEY_PEPPER,
            "PATH": "",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def clean(servers: Servers) -> None:
    """Start the test with no campaign, contact or event recorded."""
    reset_data(servers)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
