"""Revocable sessions: users.session_key (the server-side half of every session cookie) and user ids never reused.

Revision ID: 0004_security
Revises: 0003
Create Date: 2026-12-06 13:50:00

On SQLite the users table is rebuilt with AUTOINCREMENT (SQLite otherwise hands a deleted user's id to the next
new user); PostgreSQL's sequence never goes back, so only the column is added there.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_security'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_key', sa.String(length=64), nullable=True))
    _rebuild_users_on_sqlite(autoincrement=True)


def downgrade():
    _rebuild_users_on_sqlite(autoincrement=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_key')


def _rebuild_users_on_sqlite(*, autoincrement: bool) -> None:
    """Recreate `users` with or without AUTOINCREMENT, its rows and ids kept.

    Foreign keys must be off while the old table is dropped: with them on, SQLite's DROP TABLE deletes every row
    first and ON DELETE CASCADE would empty every user-owned table. The pragma is ignored inside a transaction,
    so the steps before are committed first (SQLite DDL is not transactional under Alembic anyway).
    """
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    raw = bind.connection.dbapi_connection
    raw.commit()
    bind.exec_driver_sql('PRAGMA foreign_keys=OFF')
    try:
        if bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
            raise RuntimeError('could not switch SQLite foreign keys off to rebuild the users table')
        with op.batch_alter_table('users', recreate='always',
                                  table_kwargs={'sqlite_autoincrement': autoincrement}):
            pass
        broken = bind.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'rebuilding users left {len(broken)} rows pointing nowhere')
        raw.commit()
    finally:
        bind.exec_driver_sql('PRAGMA foreign_keys=ON')
