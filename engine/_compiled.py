"""Which engine modules are compiled with mypyc, and the check that the compiled
extensions were built from the sources on disk (``tools/compile_engine.py``).

Python imports ``facts.cpython-311-….so`` in preference to ``facts.py``: an
edited source would silently not run until the next build. So the build
records each source's digest, and ``check`` (run by ``engine/__init__.py``
before any engine module loads) refuses to go on when they differ.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# The modules an evaluation runs through (and what they import from the engine).
MODULES = (
    "compiler", "conditions", "dates", "durable_runner", "effects", "errors", "evaluate",
    "facts", "history", "model", "ruleset", "scoring",
)
RECORD = "_compiled_sources.json"  # {module: digest of the source it was built from}
SHARED_LIBRARY = "_compiled__mypyc"  # mypyc's runtime for the group (tools/compile_engine.py)
HERE = Path(__file__).resolve().parent


class StaleCompiledEngine(ImportError):
    """Compiled extensions that do not match the sources beside them."""


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check() -> None:
    """Raise ``StaleCompiledEngine`` unless the engine's extensions (if any) were
    built from the sources now on disk."""
    extensions = sorted(HERE.glob("*.so"))
    if not extensions:
        return  # the pure-Python engine
    fix = "run `make install` to compile them again, or `make clean` for plain Python"
    record_path = HERE / RECORD
    if not record_path.exists():
        raise StaleCompiledEngine(f"engine: compiled modules without {RECORD}; {fix}")
    recorded = json.loads(record_path.read_text())
    changed = [name for name in MODULES
               if recorded.get(name) != source_digest(HERE / f"{name}.py")]
    strays = [path.name for path in extensions
              if path.name.split(".")[0] not in (*MODULES, SHARED_LIBRARY)]
    if changed or strays or set(recorded) != set(MODULES):
        names = ", ".join([f"engine/{name}.py" for name in changed] + strays)
        raise StaleCompiledEngine(
            f"engine: {names or 'the list of compiled modules'} changed since the engine "
            f"was compiled; {fix}")
