"""Configuration: every setting is a flag of ``lenses serve`` with an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """What the server needs to start."""

    listen: str = "127.0.0.1:50051"
    database_url: str = "sqlite:///var/lenses.db"
    rules_dir: str = "rules"
    log_format: str = "text"
    store_narrative: bool = False
    tokens_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    workers: int = 0  # 0: one per CPU
    metrics_listen: str = ""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then ``LENSES_*`` variables, then explicit (non-None) overrides."""
        env = os.environ
        values: dict[str, object] = {
            "listen": env.get("LENSES_LISTEN", cls.listen),
            "database_url": env.get("LENSES_DATABASE_URL", cls.database_url),
            "rules_dir": env.get("LENSES_RULES_DIR", cls.rules_dir),
            "log_format": env.get("LENSES_LOG_FORMAT", cls.log_format),
            "store_narrative": env.get("LENSES_STORE_NARRATIVE", "") in ("1", "true", "yes"),
            "tokens_file": env.get("LENSES_TOKENS_FILE", ""),
            "tls_cert": env.get("LENSES_TLS_CERT", ""),
            "tls_key": env.get("LENSES_TLS_KEY", ""),
            "tls_client_ca": env.get("LENSES_TLS_CLIENT_CA", ""),
            "workers": int(env.get("LENSES_WORKERS", "0") or 0) or os.cpu_count() or 1,
            "metrics_listen": env.get("LENSES_METRICS_LISTEN", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def is_loopback(self) -> bool:
        """True when the server listens only on a loopback address."""
        host = self.listen.rsplit(":", 1)[0].strip("[]")
        return host in ("localhost", "::1") or host.startswith("127.")
