"""The shared webhook cases: Meta's bodies and what ingest should conclude.

They live beside the repository, in shared/cases/webhooks (see its
README). A case whose file holds a JSON array is a sequence of bodies,
each posted on its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = (REPO / ".." / "shared" / "cases" / "webhooks").resolve()


class Case(NamedTuple):
    name: str
    # The file's bytes for one body; each element re-encoded for a sequence.
    body: bytes | list[bytes]
    expect: dict[str, Any]

    def posts(self) -> list[bytes]:
        """The bodies to post, in order."""
        return self.body if isinstance(self.body, list) else [self.body]


def load_cases() -> list[Case]:
    """Every case, by name; a missing folder fails loudly."""
    if not CASES_DIR.is_dir():
        raise FileNotFoundError(f"no webhook cases in {CASES_DIR}")

    cases = []
    for expect_path in sorted(CASES_DIR.glob("*.expect.json")):
        expect = json.loads(expect_path.read_bytes())
        raw = (CASES_DIR / expect["fixture"]).read_bytes()
        document = json.loads(raw)
        body: bytes | list[bytes] = raw
        if isinstance(document, list):
            body = [json.dumps(element).encode() for element in document]
        name = expect_path.name.removesuffix(".expect.json")
        cases.append(Case(name, body, expect))
    return cases
