"""One error root for the rules engine.

Every error carries a machine-readable ``code`` and, where it has one, a
``location`` (file and line for rule files, a field path for inputs), so the
edge (CLI, gRPC) can map them in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file and line, or a field path in an input."""

    file: str = ""
    line: int = 0
    path: str = ""

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.path:
            parts.append(self.path)
        return " ".join(parts)


class RulesError(Exception):
    """Root of every error the engine raises."""

    code = "rules_error"

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location or Location()

    def __str__(self) -> str:
        where = str(self.location)
        return f"{where}: {self.message}" if where else self.message


class RuleParseError(RulesError):
    """A rule, params or catalogue file is unreadable or breaks the schema."""

    code = "parse_error"


class RuleCompileError(RulesError):
    """A rule is well-formed but cannot be compiled (unknown field, param...)."""

    code = "compile_error"


class EvaluationError(RulesError):
    """The inference engine lost, rejected or failed on a fact.

    Raised instead of returning a result that might be missing a finding.
    """

    code = "evaluation_error"


class InputError(RulesError):
    """An input record is not something the rules can evaluate."""

    code = "input_error"


class RuleParseErrors(RuleParseError):
    """Several problems found at once while checking a rules folder."""

    def __init__(self, errors: list[RulesError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the rules", None)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)
