"""Configuration: every setting is a flag of ``lenses serve`` with an environment variable."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message says which."""


# Setting -> environment variable: how the supervisor hands its settings (flags
# included) to the workers it starts, which read them with ``from_env``.
ENVIRONMENT = {
    "listen": "LENSES_LISTEN", "database_url": "LENSES_DATABASE_URL",
    "rules_dir": "LENSES_RULES_DIR", "log_format": "LENSES_LOG_FORMAT",
    "store_narrative": "LENSES_STORE_NARRATIVE", "tokens_file": "LENSES_TOKENS_FILE",
    "tls_cert": "LENSES_TLS_CERT", "tls_key": "LENSES_TLS_KEY",
    "tls_client_ca": "LENSES_TLS_CLIENT_CA", "workers": "LENSES_WORKERS",
    "metrics_listen": "LENSES_METRICS_LISTEN",
}


LOG_FORMATS = ("text", "json")


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
            "workers": _workers(env.get("LENSES_WORKERS", "")),
            "metrics_listen": env.get("LENSES_METRICS_LISTEN", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["workers"] = _workers(str(values["workers"]))  # a flag's 0 too: one per CPU
        return cls(**values)  # type: ignore[arg-type]

    def check_serving(self) -> None:
        """What ``lenses serve`` needs beyond ``from_env``: addresses as ``host:port`` and
        a known log format, refused with the variable's name (exit 2) rather than as a
        traceback once workers have started, or as logs silently left as text."""
        _address("LENSES_LISTEN", self.listen)
        if self.metrics_listen:
            _address("LENSES_METRICS_LISTEN", self.metrics_listen)
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"LENSES_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, "
                                f"not {self.log_format[:20]!r}")

    def to_env(self) -> dict[str, str]:
        """Every setting as its environment variable (``from_env`` reads them back)."""
        return {name: ("1" if value is True else "" if value is False else str(value))
                for name, value in ((ENVIRONMENT[key], getattr(self, key)) for key in ENVIRONMENT)}

    @property
    def is_loopback(self) -> bool:
        """True when the server listens only on a loopback address."""
        host = self.listen.rsplit(":", 1)[0].strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:  # any other host name ("127.example.org") may resolve anywhere
            return False


def _address(variable: str, value: str) -> None:
    """``host:port``; the host may be empty (every interface), a name or an address
    (IPv6 in brackets), and port 0 picks a free port."""
    host, colon, port = value.rpartition(":")
    unbracketed_ipv6 = ":" in host and not (host.startswith("[") and host.endswith("]"))
    if not colon or unbracketed_ipv6 or not (port.isascii() and port.isdigit()) \
            or int(port) > 65535:
        raise SettingsError(f"{variable} must be host:port (an IPv6 host in brackets), "
                            f"not {value[:60]!r}")


def _workers(value: str) -> int:
    """``LENSES_WORKERS`` / ``--workers``: a positive number, or 0 or unset for one per CPU."""
    try:
        count = int(value or 0)
    except ValueError:
        raise SettingsError(f"LENSES_WORKERS must be a whole number, not {value[:20]!r}") from None
    if count < 0:
        raise SettingsError(f"LENSES_WORKERS must not be negative ({count})")
    return count or os.cpu_count() or 1
