"""Generate the Python code of the protos in proto/ with grpcio-tools.

Usage: python tools/protogen.py [OUTPUT_ROOT]

The output root defaults to the repository root, so that the package
xobito.<service>.v1 holds the code of proto/xobito/<service>/v1/.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
HEADER = "# Generated from proto/ by tools/protogen.py; do not edit.\n"


def proto_files() -> list[Path]:
    return sorted(PROTO_ROOT.rglob("*.proto"))


def generate(out_root: Path) -> list[Path]:
    """Write the generated modules under out_root and return their paths."""
    include = resources.files("grpc_tools") / "_proto"
    plugins = Path(sys.executable).parent
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *(str(path) for path in proto_files()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")

    written = []
    for proto in proto_files():
        package_dir = out_root / proto.parent.relative_to(PROTO_ROOT)
        for level in (package_dir, package_dir.parent):
            init = level / "__init__.py"
            if not init.exists():
                init.write_text(HEADER)
        written.extend(sorted(package_dir.glob(f"{proto.stem}_pb2*.py*")))
    return written


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
