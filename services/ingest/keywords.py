"""A workspace's own stop and start keywords, applied where events are made.

The parser marks the default keywords of xobito/optout.py. A workspace
may add its own (ContactsService/SetKeywords); ingest marks those too,
once routing has named each message's workspace, so that metrics counts
the opt-out and contacts records it from the same decision.

Known shortcoming: for up to KEYWORD_CACHE_SECONDS after a workspace
changes its keywords, ingest marks messages by the old ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from xobito import optout
from xobito.ingest.v1 import events_pb2


@dataclass(frozen=True)
class Keywords:
    """A workspace's own keywords, normalized as optout.normalize does."""

    stop: frozenset[str] = frozenset()
    start: frozenset[str] = frozenset()


# Looks up one workspace's keywords.
Fetcher = Callable[[str], Awaitable[Keywords]]


def unmarked_workspaces(batch: events_pb2.EventBatch) -> set[str]:
    """The workspaces of batch's text messages no default keyword marked."""
    return {m.workspace_id for m in batch.messages if _unmarked_text(m)}


def mark(batch: events_pb2.EventBatch, own: Mapping[str, Keywords]) -> int:
    """Mark the text messages that are their workspace's own keywords.

    Sets opt_out or opt_in in place, as the parser does for the defaults,
    and returns how many messages it marked.
    """
    marked = 0
    for message in batch.messages:
        keywords = own.get(message.workspace_id)
        if keywords is None or not _unmarked_text(message):
            continue
        said = optout.normalize(message.text)
        if said in keywords.stop:
            message.opt_out = True
        elif said in keywords.start:
            message.opt_in = True
        else:
            continue
        marked += 1
    return marked


def _unmarked_text(message: events_pb2.InboundMessage) -> bool:
    return (
        message.type == "text"
        and bool(message.workspace_id)
        and not (message.opt_out or message.opt_in)
    )


class KeywordCache:
    """Fetches workspaces' keywords, remembering them for ttl_seconds."""

    def __init__(
        self,
        fetch: Fetcher,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[Keywords, float]] = {}

    async def get(self, workspace_ids: set[str]) -> dict[str, Keywords]:
        """The keywords of each workspace; raises what the fetcher raises."""
        now = self._clock()
        found = {}
        missing = []
        for workspace_id in sorted(workspace_ids):
            entry = self._entries.get(workspace_id)
            if entry is not None and entry[1] > now:
                found[workspace_id] = entry[0]
            else:
                missing.append(workspace_id)
        if not missing:
            return found

        fetched = await asyncio.gather(*map(self._fetch, missing))
        expires_at = self._clock() + self._ttl_seconds
        for workspace_id, keywords in zip(missing, fetched, strict=True):
            self._entries[workspace_id] = (keywords, expires_at)
            found[workspace_id] = keywords
        return found
