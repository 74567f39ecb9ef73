"""Lenses rules engine: load -> compile -> evaluate, with no I/O beyond reading rules.

The pipeline reads in the file names: ``yamlsource`` and ``loader`` (read
and validate rules), ``compiler`` (build the durable_rules ruleset),
``facts`` (inputs to flat facts), ``durable_runner`` (the only module that
touches durable_rules), ``effects`` (firings to findings and actions) and
``evaluate`` (the whole thing). This package never imports gRPC, protobuf,
SQLAlchemy or ``server``. ``make install`` compiles the evaluation path with
mypyc (``_compiled``); the same sources run as plain Python without it.
"""

from . import _compiled

_compiled.check()  # before any compiled module loads: never run stale extensions

from .errors import (  # noqa: E402
    EvaluationError,
    InputError,
    RuleCompileError,
    RuleParseError,
    RulesError,
)
from .evaluate import RulesEngine  # noqa: E402
from .loader import load_ruleset  # noqa: E402

__all__ = [
    "EvaluationError",
    "InputError",
    "RuleCompileError",
    "RuleParseError",
    "RulesEngine",
    "RulesError",
    "load_ruleset",
]
