"""The generated gRPC code is what the protos in proto/ produce today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _protogen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "protogen", ROOT / "tools" / "protogen.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    fresh = _protogen().generate(tmp_path)

    stale = [
        str(path.relative_to(tmp_path))
        for path in fresh
        if (ROOT / path.relative_to(tmp_path)).read_bytes() != path.read_bytes()
    ]
    assert fresh
    assert not stale, f"run `make proto`: stale generated code {stale}"


def test_every_proto_has_generated_code(tmp_path: Path) -> None:
    protos = sorted(p.stem for p in (ROOT / "proto").rglob("*.proto"))

    generated = sorted(
        p.name.removesuffix("_pb2.py") for p in (ROOT / "xobito").rglob("*_pb2.py")
    )

    assert generated == protos
