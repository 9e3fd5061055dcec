"""authority_queue: ID-authority checks made while the link was down, sent later

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('authority_queue',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=True),
    sa.Column('cnic', sa.String(length=15), nullable=False),
    sa.Column('finger', sa.String(length=16), nullable=True),
    sa.Column('probe_ciphertext', sa.LargeBinary(), nullable=True),
    sa.Column('station_state', sa.String(length=16), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('result', sa.String(length=32), nullable=True),
    sa.Column('log_seq', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('authority_queue', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_authority_queue_session_id'), ['session_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_authority_queue_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('authority_queue', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_authority_queue_state'))
        batch_op.drop_index(batch_op.f('ix_authority_queue_session_id'))
    op.drop_table('authority_queue')
