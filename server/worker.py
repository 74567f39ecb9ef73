"""One server process under the supervisor (``python -m server.worker``)."""

from __future__ import annotations

import asyncio
import os
import sys

from .app import StartupError, serve
from .config import Settings
from .logs import configure
from .supervisor import READY


def main() -> int:
    """Serve until SIGTERM; print the ready line the supervisor waits for."""
    settings = Settings.from_env()
    configure(settings.log_format)

    def ready(address: str) -> None:
        sys.stdout.write(f"{READY}{address}\n")
        sys.stdout.flush()

    # Given by the supervisor: a worker stops once it is gone.
    supervisor = os.environ.get("LENSES_SUPERVISOR_PID")
    try:
        asyncio.run(serve(settings, ready, int(supervisor) if supervisor else None))
    except StartupError as exc:
        print(f"lenses: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
