"""API keys: each opens one workspace.

A key is `xo_` and 43 random URL-safe characters. Only its SHA-256 digest
is stored, so a leaked table opens nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool

KEY_PREFIX = "xo_"
_WORKSPACE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class InvalidWorkspaceError(ValueError):
    """A workspace name that is not a short lower-case slug."""


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    workspace_id: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def check_workspace_id(workspace_id: str) -> str:
    if not _WORKSPACE_ID.match(workspace_id):
        raise InvalidWorkspaceError(
            "a workspace name is 1-63 lower-case letters, digits, - or _"
        )
    return workspace_id


def create_key(
    conn: psycopg.Connection, workspace_id: str, key: str | None = None
) -> str:
    """Store a key for the workspace, creating the workspace if it is new.

    With key given (the development key), storing it again is a no-op.
    """
    check_workspace_id(workspace_id)
    key = key or new_key()
    with conn.transaction():
        conn.execute(
            "INSERT INTO gateway.workspaces (id) VALUES (%s) ON CONFLICT DO NOTHING",
            [workspace_id],
        )
        conn.execute(
            "INSERT INTO gateway.api_keys (workspace_id, key_digest, key_prefix)"
            " VALUES (%s, %s, %s) ON CONFLICT (key_digest) DO NOTHING",
            [workspace_id, digest(key), key[:10]],
        )
    return key


def list_keys(conn: psycopg.Connection, workspace_id: str | None) -> list[ApiKeyInfo]:
    rows = conn.execute(
        "SELECT id, workspace_id, key_prefix, created_at, revoked_at"
        " FROM gateway.api_keys"
        " WHERE %(ws)s::text IS NULL OR workspace_id = %(ws)s"
        " ORDER BY id",
        {"ws": workspace_id},
    ).fetchall()
    return [ApiKeyInfo(*row) for row in rows]


def revoke_key(conn: psycopg.Connection, key_id: int) -> bool:
    with conn.transaction():
        cur = conn.execute(
            "UPDATE gateway.api_keys SET revoked_at = now()"
            " WHERE id = %s AND revoked_at IS NULL",
            [key_id],
        )
    return cur.rowcount == 1


async def workspace_of(pool: AsyncConnectionPool, key: str) -> str | None:
    """The workspace a key opens, or None for an unknown or revoked key."""
    if not key.startswith(KEY_PREFIX):
        return None
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT workspace_id FROM gateway.api_keys"
            " WHERE key_digest = %s AND revoked_at IS NULL",
            [digest(key)],
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return str(row["workspace_id"] if isinstance(row, dict) else row[0])
