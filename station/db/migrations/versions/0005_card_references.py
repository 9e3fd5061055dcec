"""card_references: the card's DG3 fingerprints / DG2 face for a verification when the roll holds none

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('card_references',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('modality', sa.String(length=16), nullable=False),
    sa.Column('position', sa.String(length=16), nullable=False),
    sa.Column('format', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['verification_sessions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('card_references', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_card_references_session_id'), ['session_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('card_references', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_card_references_session_id'))
    op.drop_table('card_references')
