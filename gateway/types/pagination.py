"""PageInfo, shared by every connection."""

from __future__ import annotations

from typing import Any

import strawberry

from gateway.cursors import Slice


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, page: Slice[Any]) -> PageInfo:
        end = page.cursors[-1] if page.cursors else None
        return cls(has_next_page=page.has_next_page, end_cursor=end)
