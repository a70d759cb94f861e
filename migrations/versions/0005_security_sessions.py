"""Revocable sessions: users.session_key (the server-side half of every session cookie) and user ids never reused.

Revision ID: 0005_security
Revises: 0004_sync
Create Date: 2026-12-06 13:50:00

On SQLite the users table is rebuilt with AUTOINCREMENT (SQLite otherwise hands a deleted user's id to the next
new user); PostgreSQL's sequence never goes back, so only the column is added there.
"""
import contextlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_security'
down_revision = '0004_sync'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_key', sa.String(length=64), nullable=True))
    if _sqlite():
        with _foreign_keys_off():
            with op.batch_alter_table('users', recreate='always', table_kwargs={'sqlite_autoincrement': True}):
                pass


def downgrade():
    if not _sqlite():
        op.drop_column('users', 'session_key')
        return
    with _foreign_keys_off():
        with op.batch_alter_table('users', recreate='always',
                                  table_kwargs={'sqlite_autoincrement': False}) as batch_op:
            batch_op.drop_column('session_key')


def _sqlite() -> bool:
    return op.get_bind().dialect.name == 'sqlite'


@contextlib.contextmanager
def _foreign_keys_off():
    """SQLite foreign keys off while `users` is rebuilt (copied, dropped, renamed), its rows and ids kept.

    With them on, SQLite's DROP TABLE deletes every row first and ON DELETE CASCADE would empty every
    user-owned table. The pragma is ignored inside a transaction, so the steps before are committed first
    (SQLite DDL is not transactional under Alembic anyway).
    """
    bind = op.get_bind()
    raw = bind.connection.dbapi_connection
    raw.commit()
    bind.exec_driver_sql('PRAGMA foreign_keys=OFF')
    try:
        if bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
            raise RuntimeError('could not switch SQLite foreign keys off to rebuild the users table')
        yield
        broken = bind.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'rebuilding users left {len(broken)} rows pointing nowhere')
        raw.commit()
    finally:
        bind.exec_driver_sql('PRAGMA foreign_keys=ON')
