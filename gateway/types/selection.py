"""What a query selects below the field being resolved, so that a
resolver fetches and converts only that."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from strawberry.types.nodes import SelectedField, Selection

from gateway.context import Info


def selected_below(info: Info, *path: str) -> frozenset[str]:
    """The names of the fields selected at path below the current field,
    through fragments, as the document spells them (`readAt`).

    @skip and @include are not evaluated: a field they leave out counts
    as selected, which can only fetch more than is needed.
    """
    return names_below(info.selected_fields, *path)


def names_below(fields: Iterable[Selection], *path: str) -> frozenset[str]:
    """As selected_below, below the given fields."""
    level = [child for field in _fields(fields) for child in field.selections]
    for name in path:
        level = [
            child
            for field in _fields(level)
            if field.name == name
            for child in field.selections
        ]
    return frozenset(field.name for field in _fields(level))


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields among selections, with those of fragments in line."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)
