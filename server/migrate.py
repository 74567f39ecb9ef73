"""Bring a database schema up to date with Alembic (``lenses migrate``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def ensure_sqlite_folder(url: str) -> None:
    """SQLite needs the folder of its file (``var/``) to exist."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str) -> None:
    """Apply every migration to the database at ``url``."""
    ensure_sqlite_folder(url)
    engine = create_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            with engine.connect() as connection:  # kept in the file: readers never block writers
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


class NotMigrated(Exception):
    """The database's schema is not the one this version of Lenses needs."""


def require_current(url: str) -> None:
    """Raise ``NotMigrated`` unless the database at ``url`` has every migration
    (a missing SQLite file is not created)."""
    if url.startswith("sqlite:///") and ":memory:" not in url and \
            not Path(url.removeprefix("sqlite:///")).exists():
        raise NotMigrated(f"no database at {url.removeprefix('sqlite:///')}: run `lenses migrate` first")
    heads = set(ScriptDirectory.from_config(alembic_config(url)).get_heads())
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    if current != heads:
        at = ", ".join(sorted(current)) or "none"
        raise NotMigrated(f"the database schema is at migration {at}, this version needs "
                          f"{', '.join(sorted(heads))}: run `lenses migrate` first")
