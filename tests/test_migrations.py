"""Migrations build the same schema as the models, up and down, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.extensions import db
from app.storage.base import Base

ALL_TABLES = set(Base.metadata.tables)


def _roundtrip(app) -> None:
    with app.app_context():
        upgrade()
        assert ALL_TABLES <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            drift = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert drift == [], f"models and migrations disagree: {drift}"
        downgrade(revision="base")
        assert not ALL_TABLES & set(inspect(db.engine).get_table_names())
        upgrade()
        assert ALL_TABLES <= set(inspect(db.engine).get_table_names())
        db.engine.dispose()


def test_migrations_roundtrip_on_sqlite(app_config):
    _roundtrip(create_app(app_config))


@pytest.mark.postgres
def test_migrations_roundtrip_on_postgresql(app_config, postgres_url):
    _roundtrip(create_app({**app_config, "DATABASE_URL": postgres_url}))
