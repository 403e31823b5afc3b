"""Schema migrations: applied in order, once, whoever starts first."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from tests.stack import Servers
from xobito.database import migrate, migration_files


@pytest.fixture
def empty_database(servers: Servers) -> Iterator[str]:
    name = f"migrations_{secrets.token_hex(4)}"
    admin = servers.postgres.url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_migrate_applies_every_file_then_nothing(empty_database: str) -> None:
    first = migrate(empty_database)
    second = migrate(empty_database)

    assert first == len(migration_files())
    assert second == 0


def test_processes_migrating_together_apply_each_file_once(
    empty_database: str,
) -> None:
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(migrate, [empty_database] * 4))

    assert sum(counts) == len(migration_files())
    with psycopg.connect(empty_database) as conn:
        versions = [
            v
            for (v,) in conn.execute(
                "SELECT version FROM public.schema_migrations ORDER BY version"
            )
        ]
    assert versions == [path.stem for path in migration_files()]
