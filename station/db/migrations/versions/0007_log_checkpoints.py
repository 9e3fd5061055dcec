"""log_checkpoints: the match log's signed Merkle-tree checkpoints (RFC 9162 roots in C2SP signed notes)

One row per tree size: when it was taken, why (open, hourly, close, manual) and the signed note. The notes are
signed by the station key, so a row changed in the database no longer verifies; observers keep their own copies
(the QR code on the summary screen): docs/audit-log.md.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('log_checkpoints',
    sa.Column('tree_size', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('tree_size')
    )


def downgrade() -> None:
    op.drop_table('log_checkpoints')
