"""engine/ must stay pure: no gRPC, protobuf, SQLAlchemy or server imports, and
only one module may import durable_rules (quality.md)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = ("grpc", "google.protobuf", "sqlalchemy", "server", "lenses")
DURABLE = ("durable", "durable_rules_engine")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _matches(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == root or name.startswith(root + ".") for root in roots)


def test_engine_imports_no_grpc_protobuf_sqlalchemy_or_server() -> None:
    offenders = {
        str(path.relative_to(ENGINE.parent)): sorted(n for n in _imports(path) if _matches(n, FORBIDDEN))
        for path in ENGINE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_runner_imports_durable() -> None:
    importers = sorted(
        path.name for path in ENGINE.rglob("*.py") if any(_matches(n, DURABLE) for n in _imports(path))
    )
    assert importers == ["durable_runner.py"]


def test_the_walk_sees_imports(tmp_path: Path) -> None:
    """The checker itself can fail: a file importing grpc is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("import grpc\nfrom sqlalchemy.orm import Session\n")
    assert {n for n in _imports(bad) if _matches(n, FORBIDDEN)} == {"grpc", "sqlalchemy.orm"}
