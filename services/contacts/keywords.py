"""A workspace's own stop and start keywords.

They add to the defaults of xobito/optout.py, which the ingest parser has
already applied: a text message the defaults left alone may still be one
of the workspace's keywords. They are kept normalized, as optout compares
them, so "Stop!" and "stop" are one keyword.

Ingest marks the same keywords on the messages it hands on (see
services/ingest/keywords.py), so that metrics counts those opt-outs too;
the rule here still decides for a message that comes without the mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.contacts.history import InboundMessage
from services.contacts.rules import Signal
from xobito import optout
from xobito.errors import InvalidArgumentError

MAX_KEYWORDS = 50
MAX_LENGTH = 64


@dataclass(frozen=True)
class Keywords:
    stop: tuple[str, ...] = ()
    start: tuple[str, ...] = ()


NONE = Keywords()


def cleaned(stop: Iterable[str], start: Iterable[str]) -> Keywords:
    """The keywords normalized, sorted and without repeats.

    Raises InvalidArgumentError for a keyword that is empty once
    normalized, too long, in both lists, or a default of the other kind:
    a workspace must not turn "start" into a way to stop.
    """
    stops, starts = _normalized(stop, "stop"), _normalized(start, "start")
    if stops & starts:
        raise InvalidArgumentError("a keyword cannot both stop and start")
    if stops & optout.START_KEYWORDS or starts & optout.STOP_KEYWORDS:
        raise InvalidArgumentError("a default keyword cannot change its meaning")
    return Keywords(tuple(sorted(stops)), tuple(sorted(starts)))


def signal_of(message: InboundMessage, keywords: Keywords) -> Signal:
    """What a message says, with the workspace's keywords as well."""
    if message.signal is not Signal.WROTE or message.type != "text":
        return message.signal
    said = optout.normalize(message.text)
    if said in keywords.stop:
        return Signal.STOP_KEYWORD
    if said in keywords.start:
        return Signal.START_KEYWORD
    return message.signal


def _normalized(words: Iterable[str], kind: str) -> set[str]:
    found = set()
    for word in words:
        keyword = optout.normalize(word)
        if not keyword:
            raise InvalidArgumentError(f"a {kind} keyword needs a letter or digit")
        if len(keyword) > MAX_LENGTH:
            raise InvalidArgumentError(
                f"a {kind} keyword has at most {MAX_LENGTH} characters"
            )
        found.add(keyword)
    if len(found) > MAX_KEYWORDS:
        raise InvalidArgumentError(f"at most {MAX_KEYWORDS} {kind} keywords")
    return found
