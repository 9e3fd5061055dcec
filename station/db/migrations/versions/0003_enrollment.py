"""enrollment sessions, captures and the adjudication queue

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'enrollment_sessions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('cnic', sa.String(length=15), nullable=False),
        sa.Column('state', sa.String(length=24), nullable=False),
        sa.Column('operator', sa.String(length=64), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('demographics', sa.Text(), nullable=False),
        sa.Column('polling_station', sa.String(length=32), nullable=False),
        sa.Column('candidates_found', sa.Integer(), nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=True),
        sa.Column('decided_by', sa.String(length=64), nullable=True),
        sa.Column('decision_note', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_enrollment_sessions_cnic', 'enrollment_sessions', ['cnic'])
    op.create_index('ix_enrollment_sessions_state', 'enrollment_sessions', ['state'])
    op.create_table(
        'enrollment_captures',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.String(length=36), nullable=False),
        sa.Column('modality', sa.String(length=16), nullable=False),
        sa.Column('position', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('quality', sa.Integer(), nullable=False),
        sa.Column('format', sa.String(length=32), nullable=True),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=True),
        sa.Column('exception_reason', sa.String(length=32), nullable=True),
        sa.Column('exception_photo', sa.LargeBinary(), nullable=True),
        sa.Column('feedback', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['session_id'], ['enrollment_sessions.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_id', 'position', name='uq_enrollment_capture'),
    )
    op.create_index('ix_enrollment_captures_session_id', 'enrollment_captures', ['session_id'])
    op.create_table(
        'duplicate_candidates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.String(length=36), nullable=False),
        sa.Column('cnic', sa.String(length=15), nullable=False),
        sa.Column('fingerprint_score', sa.Float(), nullable=True),
        sa.Column('fingers_matched', sa.Integer(), nullable=False),
        sa.Column('face_distance', sa.Float(), nullable=True),
        sa.Column('evidence', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['session_id'], ['enrollment_sessions.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_duplicate_candidates_session_id', 'duplicate_candidates', ['session_id'])


def downgrade() -> None:
    op.drop_table('duplicate_candidates')
    op.drop_table('enrollment_captures')
    op.drop_table('enrollment_sessions')
