"""Migration 0005_security on a database with users in it: rows and ids kept, the users table rebuilt with
AUTOINCREMENT on SQLite without a cascade emptying the user-owned tables, foreign keys on afterwards."""

from __future__ import annotations

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db


def test_upgrading_a_populated_sqlite_database_keeps_every_row(app_config):
    app = create_app(app_config)
    with app.app_context():
        upgrade(revision="0003")
        with db.engine.begin() as conn:
            for user_id in (1, 2, 3):
                conn.execute(text("INSERT INTO users (id, spotify_id, created_at, updated_at) "
                                  "VALUES (:id, :sid, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                             {"id": user_id, "sid": f"user{user_id}"})
                conn.execute(text("INSERT INTO jobs (id, user_id, kind, status, attempts, cancel_requested, "
                                  "created_at) VALUES (:id, :uid, 'harvest', 'succeeded', 1, 0, CURRENT_TIMESTAMP)"),
                             {"id": f"job{user_id}", "uid": user_id})
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM users ORDER BY id")).scalars().all() == [1, 2, 3]
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 3, "no cascade emptied the jobs"
            assert "AUTOINCREMENT" in conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'users'")).scalar()
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        with db.engine.begin() as conn:
            conn.execute(text("DELETE FROM users WHERE id = 3"))
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 2, "ON DELETE CASCADE still works"
            conn.execute(text("INSERT INTO users (spotify_id, created_at, updated_at) "
                              "VALUES ('new', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            assert conn.execute(text("SELECT id FROM users WHERE spotify_id = 'new'")).scalar() == 4
        downgrade(revision="0003")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM jobs")).scalar() == 2
            assert "AUTOINCREMENT" not in conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'users'")).scalar()
        db.engine.dispose()
