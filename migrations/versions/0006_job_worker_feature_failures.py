"""Jobs name their worker (so a killed one is seen at once) and feature rows count failures in a row (backoff).

Revision ID: 0006_jobs_worker
Revises: 0005_security
Create Date: 2026-12-06 17:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_jobs_worker'
down_revision = '0005_security'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker', sa.String(length=120), nullable=True))
    with op.batch_alter_table('track_features', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('track_features', schema=None) as batch_op:
        batch_op.drop_column('failures')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('worker')
