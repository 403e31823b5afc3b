"""API keys: each opens one workspace.

A key is `xo_` and 43 random URL-safe characters, shown once when made.
The table keeps HMAC-SHA256(pepper, SHA-256(key)) only: a leaked table
opens nothing, and without the pepper (API_KEY_PEPPER, which the
database never sees) a guess cannot even be checked against it. Rows
stored before the pepper hold the bare SHA-256 until upgrade_digests,
which the gateway runs at start, wraps it.

A key works until its revoked_at. Rotating a key makes a new one for the
same workspace and name, and revokes the old one after a grace period
(none unless asked), so that clients can move over before it stops.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from xobito import workspaces
from xobito.database import reading

KEY_PREFIX = "xo_"
_KEY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
# A key is in force until its revoked_at, which a rotation sets ahead.
_ACTIVE = "(revoked_at IS NULL OR revoked_at > now())"


class InvalidWorkspaceError(ValueError):
    """A workspace name that is not a short lower-case slug."""


class InvalidKeyNameError(ValueError):
    """A key name that is taken or not a short identifier."""


class KeyNotFoundError(LookupError):
    """No single key that may be rotated has that id or name."""


@dataclass(frozen=True)
class ApiKey:
    """What a request is authenticated as."""

    id: int
    workspace_id: str


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    workspace_id: str
    name: str | None
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Rotation:
    key: str = field(repr=False)
    key_id: int
    old_id: int
    old_revoked_at: datetime


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str, pepper: str) -> bytes:
    return _peppered(hashlib.sha256(key.encode()).digest(), pepper)


def _peppered(bare: bytes, pepper: str) -> bytes:
    if not pepper:
        raise ValueError("an API key digest needs the pepper")
    return hmac.digest(pepper.encode(), bare, "sha256")


def check_workspace_id(workspace_id: str) -> str:
    if not workspaces.is_workspace_id(workspace_id):
        raise InvalidWorkspaceError(workspaces.RULE)
    return workspace_id


def create_key(
    conn: psycopg.Connection,
    workspace_id: str,
    pepper: str,
    *,
    name: str | None = None,
    key: str | None = None,
) -> str:
    """Store a key for the workspace, creating the workspace if it is new.

    With key given (the development key), storing it again is a no-op.
    """
    check_workspace_id(workspace_id)
    if name is not None and not _KEY_NAME.match(name):
        raise InvalidKeyNameError(
            "a key name is 1-63 letters, digits, '.', '-' or '_', from a letter"
        )
    key = key or new_key()
    with conn.transaction():
        conn.execute(
            "INSERT INTO gateway.workspaces (id) VALUES (%s) ON CONFLICT DO NOTHING",
            [workspace_id],
        )
        _insert(conn, workspace_id, name, key, pepper)
    return key


def _insert(
    conn: psycopg.Connection, workspace_id: str, name: str | None, key: str, pepper: str
) -> int | None:
    try:
        row = conn.execute(
            "INSERT INTO gateway.api_keys"
            " (workspace_id, name, key_digest, key_prefix, peppered)"
            " VALUES (%s, %s, %s, %s, true)"
            " ON CONFLICT (key_digest) DO NOTHING RETURNING id",
            [workspace_id, name, digest(key, pepper), key[:10]],
        ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise InvalidKeyNameError(
            f"workspace {workspace_id} already has an active key named {name}"
        ) from None
    return None if row is None else int(row[0])


def list_keys(conn: psycopg.Connection, workspace_id: str | None) -> list[ApiKeyInfo]:
    rows = conn.execute(
        "SELECT id, workspace_id, name, key_prefix, created_at, revoked_at"
        " FROM gateway.api_keys"
        " WHERE %(ws)s::text IS NULL OR workspace_id = %(ws)s"
        " ORDER BY id",
        {"ws": workspace_id},
    ).fetchall()
    return [ApiKeyInfo(*row) for row in rows]


def revoke_key(conn: psycopg.Connection, key_id: int) -> bool:
    """Revoke at once, a key in its grace period included."""
    with conn.transaction():
        cur = conn.execute(
            "UPDATE gateway.api_keys SET revoked_at = now()"
            f" WHERE id = %s AND {_ACTIVE}",
            [key_id],
        )
    return cur.rowcount == 1


def find_key(
    conn: psycopg.Connection, id_or_name: str, workspace_id: str | None = None
) -> int:
    """The id of the unrotated, unrevoked key with that id or name."""
    column = "id" if id_or_name.isdigit() else "name"
    rows = conn.execute(
        "SELECT id FROM gateway.api_keys"
        f" WHERE {column}::text = %(key)s AND revoked_at IS NULL"
        " AND (%(ws)s::text IS NULL OR workspace_id = %(ws)s)",
        {"key": id_or_name, "ws": workspace_id},
    ).fetchall()
    if not rows:
        raise KeyNotFoundError(f"no active key {id_or_name!r}")
    if len(rows) > 1:
        raise KeyNotFoundError(
            f"several workspaces have a key named {id_or_name!r}: give --workspace"
        )
    return int(rows[0][0])


def rotate_key(
    conn: psycopg.Connection, key_id: int, pepper: str, grace: timedelta
) -> Rotation:
    """A new key for the same workspace and name; the old one is revoked
    once the grace period is over."""
    with conn.transaction():
        old = conn.execute(
            "UPDATE gateway.api_keys SET revoked_at = now() + %s"
            " WHERE id = %s AND revoked_at IS NULL"
            " RETURNING workspace_id, name, revoked_at",
            [grace, key_id],
        ).fetchone()
        if old is None:
            raise KeyNotFoundError(f"no active key {key_id}")
        workspace_id, name, revoked_at = old
        key = new_key()
        new_id = _insert(conn, workspace_id, name, key, pepper)
    assert new_id is not None, "a fresh key's digest cannot be stored already"
    return Rotation(key, new_id, key_id, revoked_at)


def upgrade_digests(conn: psycopg.Connection, pepper: str) -> int:
    """Wrap every digest stored before the pepper in it; how many were."""
    bare = conn.execute(
        "SELECT id, key_digest FROM gateway.api_keys WHERE NOT peppered"
    ).fetchall()
    upgraded = 0
    for key_id, old in bare:
        with conn.transaction():
            # Replicas that start together each try; one row changes once.
            cur = conn.execute(
                "UPDATE gateway.api_keys SET key_digest = %s, peppered = true"
                " WHERE id = %s AND NOT peppered",
                [_peppered(bytes(old), pepper), key_id],
            )
        upgraded += cur.rowcount
    return upgraded


async def find_active(
    pool: AsyncConnectionPool, key: str, pepper: str
) -> ApiKey | None:
    """The key in force that `key` is, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    async with reading(pool) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT id, workspace_id FROM gateway.api_keys"
            f" WHERE key_digest = %s AND peppered AND {_ACTIVE}",
            [digest(key, pepper)],
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return ApiKey(id=int(row["id"]), workspace_id=str(row["workspace_id"]))


async def revoked_among(pool: AsyncConnectionPool, key_ids: list[int]) -> set[int]:
    """Those of key_ids no longer in force."""
    if not key_ids:
        return set()
    async with reading(pool) as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT id FROM gateway.api_keys WHERE id = ANY(%s) AND NOT {_ACTIVE}",
            [key_ids],
        )
        rows = await cur.fetchall()
    return {int(row["id"]) for row in rows}
