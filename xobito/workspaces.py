"""Workspace ids: short lower-case slugs, the same in every service."""

from __future__ import annotations

import re

_WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
RULE = "a workspace name is 1-63 lower-case letters, digits, - or _"


def is_workspace_id(value: str) -> bool:
    return _WORKSPACE_ID.fullmatch(value) is not None
