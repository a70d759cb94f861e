"""The Sort review's index: sort_assignments by (sort_run_id, context, probability).

Revision ID: 0008_sort_review_index
Revises: 0007_local_accounts
Create Date: 2026-12-06 20:05:00

A page of one playlist (its 25 most likely kept songs) and a cutoff move (the rows between two cutoffs) read
this index in order instead of ranking or scanning every row of the sort (issue 21).
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


def downgrade():
    op.drop_index('ix_sort_assignments_run_context_probability', table_name='sort_assignments')
