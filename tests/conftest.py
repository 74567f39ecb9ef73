"""Shared fixtures: the project's rules and a compiled engine (compiled once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import RulesEngine

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = ROOT.parent / "shared" / "examples"


@pytest.fixture(scope="session")
def engine() -> RulesEngine:
    """The engine with the project's rules."""
    return RulesEngine.from_directory(RULES)
