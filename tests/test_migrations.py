"""The Alembic migrations build exactly the schema the models describe, on
every backend: a model change without its migration fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from server.db import Base
from tests.conftest import BACKENDS
from tests.server_harness import fresh_database


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrated_schema_matches_the_models(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as url:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        finally:
            engine.dispose()
    assert differences == []
