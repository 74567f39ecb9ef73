"""Regenerate the golden compiled rulesets (``make golden``)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.compiler import compile_ruleset
from engine.loader import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = {
    "fixtures-rules": ROOT / "tests" / "fixtures" / "rules",
    "project-rules": ROOT / "rules",
}


def golden_path(name: str) -> Path:
    """Where the golden JSON of ``name`` is kept."""
    return ROOT / "tests" / "golden" / f"{name}.json"


def render(directory: Path) -> str:
    """The compiled ruleset of a rules folder as stable, diffable JSON."""
    compiled = compile_ruleset(load_ruleset(directory))
    return json.dumps(compiled.golden(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, directory in GOLDEN.items():
        golden_path(name).write_text(render(directory))
        print(f"wrote {golden_path(name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
