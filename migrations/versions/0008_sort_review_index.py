"""The Sort review's index, sort_assignments by (sort_run_id, context, probability), and room to flip flags in place.

Revision ID: 0008_sort_review_index
Revises: 0007_local_accounts
Create Date: 2026-12-06 20:05:00

A page of one playlist (its 25 most likely kept songs) and a cutoff move (the rows between two cutoffs) read
this index in order instead of ranking or scanning every row of the sort (issue 21). On PostgreSQL the table
keeps 30 % of each page free: a cutoff move or a keep/drop rewrites a row's flag, and with room on its page the
new version stays there without touching the table's five indexes (a "HOT" update); on a full page every flip
also writes five index entries (a 2,266-row move took 50-170 ms full against 32-68 ms with room, at load 22).
New sorts' pages get the room; rows already stored keep theirs until the table is rewritten.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008_sort_review_index'
down_revision = '0007_local_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_sort_assignments_run_context_probability', 'sort_assignments',
                    ['sort_run_id', 'context', 'probability'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE sort_assignments SET (fillfactor = 70)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE sort_assignments RESET (fillfactor)')
    op.drop_index('ix_sort_assignments_run_context_probability', table_name='sort_assignments')
