"""Local accounts without Spotify: users.spotify_id becomes optional and users.local_key_hash is added.

Revision ID: 0007_local_accounts
Revises: 0006_jobs_worker
Create Date: 2026-12-06 16:55:00

On SQLite a column's NULL rule can only change by rebuilding the table, so `users` is rebuilt with foreign keys
off (as 0005 does), keeping AUTOINCREMENT; PostgreSQL alters the column in place.
"""
import contextlib

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_local_accounts'
down_revision = '0006_jobs_worker'
branch_labels = None
depends_on = None


def upgrade():
    with _users_batch() as batch_op:
        batch_op.add_column(sa.Column('local_key_hash', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_users_local_key_hash'), ['local_key_hash'])
        batch_op.alter_column('spotify_id', existing_type=sa.String(length=128), nullable=True)


def downgrade():
    # Local accounts have nobody to be on Spotify's side: they (and, by cascade, their rows) cannot stay.
    op.execute(sa.text('DELETE FROM users WHERE spotify_id IS NULL'))
    with _users_batch() as batch_op:
        batch_op.alter_column('spotify_id', existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_users_local_key_hash'), type_='unique')
        batch_op.drop_column('local_key_hash')


@contextlib.contextmanager
def _users_batch():
    """A batch on `users`: in place on PostgreSQL; on SQLite a rebuild with foreign keys off, so SQLite's DROP TABLE
    inside the rebuild cannot cascade into every user-owned table."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        with op.batch_alter_table('users') as batch_op:
            yield batch_op
        return
    raw = bind.connection.dbapi_connection
    raw.commit()  # the pragma is ignored inside a transaction
    bind.exec_driver_sql('PRAGMA foreign_keys=OFF')
    try:
        if bind.exec_driver_sql('PRAGMA foreign_keys').scalar():
            raise RuntimeError('could not switch SQLite foreign keys off to rebuild the users table')
        with op.batch_alter_table('users', recreate='always', table_kwargs={'sqlite_autoincrement': True}) as batch_op:
            yield batch_op
        broken = bind.exec_driver_sql('PRAGMA foreign_key_check').fetchall()
        if broken:
            raise RuntimeError(f'rebuilding users left {len(broken)} rows pointing nowhere')
        raw.commit()
    finally:
        bind.exec_driver_sql('PRAGMA foreign_keys=ON')
