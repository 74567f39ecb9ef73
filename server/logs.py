"""Logging: readable text, or one JSON object per line (LENSES_LOG_FORMAT=json).

Log records carry ids and codes only: no narrative text is ever logged.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Structured fields a record may carry (ids and codes only).
FIELDS = ("request_id", "rpc", "code", "client")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """Readable lines; a call's request id and client follow its message, as JSON lines
    carry them, so a client's report or an internal error can be found in the text too."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{name}={getattr(record, name)}" for name in ("request_id", "client")
                       if getattr(record, name, None))
        return f"{line} {ids}" if ids else line


def configure(log_format: str) -> None:
    """Send logs to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
