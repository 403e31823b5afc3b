"""Schema migrations: applied in order, once, whoever starts first."""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import pq
from psycopg.adapt import PyFormat

from services.metrics.search import name_key
from tests.stack import Servers
from xobito.database import migrate, migration_files, open_pool


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


def test_pooled_connections_send_lists_in_binary_and_keep_every_text(
    servers: Servers,
) -> None:
    awkward = ['a "quoted", {braced} text', "back\\slash", "NULL", "", "é ✓"]

    async def round_trip() -> tuple[pq.Format, list[str]]:
        pool = await open_pool(servers.postgres.url, min_size=1, max_size=1)
        async with pool, pool.connection() as conn:
            dumper = conn.adapters.get_dumper(list, PyFormat.AUTO)
            cursor = await conn.execute(
                "SELECT t FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n)"
                " ORDER BY n",
                [awkward],
            )
            return dumper.format, [row["t"] for row in await cursor.fetchall()]

    sent_as, read_back = asyncio.run(round_trip())

    assert sent_as == pq.Format.BINARY
    assert read_back == awkward


NAMES = ["Søren Ødegård", "Łukasz Đorđević", "Ægir Þórsson", "Œdipe Asl\u0131", "Zoë"]


def test_name_keys_stored_before_are_spelt_as_they_are_searched(
    empty_database: str,
) -> None:
    migrate(empty_database)
    upgrade = next(
        path for path in migration_files() if "name_keys_unmarked_letters" in path.name
    ).read_text()
    # Accents stripped, the letters of their own kept.
    earlier = [
        "".join(
            c
            for c in unicodedata.normalize("NFKD", name.casefold())
            if not unicodedata.combining(c)
        )
        for name in NAMES
    ]

    with psycopg.connect(empty_database) as conn:
        conn.execute(
            "INSERT INTO metrics.campaigns (id, workspace_id, name, phone_number_id,"
            " template_name) VALUES ('cmp_keys', 'test', 'Keys', '1', 't')"
        )
        conn.execute(
            "INSERT INTO metrics.recipients (campaign_id, phone, name, name_key)"
            " SELECT 'cmp_keys', '1650555000' || n, name, key"
            " FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS r(name, key, n)",
            [NAMES, earlier],
        )
        conn.execute(upgrade)
        rows = conn.execute(
            "SELECT name, name_key FROM metrics.recipients ORDER BY id"
        ).fetchall()

    assert rows == [(name, name_key(name)) for name in NAMES]
