"""issued_certificates: the commission's record of the certificates it issued, and of those it revoked

One row per certificate `station roll add-station/add-centre --request` issued: serial (hex), subject (the station
or centre id), role, when, until when; `station roll revoke` sets revoked_at and the reason, and the commission's
signed revocation list (keys/commission.crl) is made from the revoked rows: docs/commission-pki.md.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issued_certificates',
    sa.Column('serial', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('serial')
    )
    with op.batch_alter_table('issued_certificates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issued_certificates_subject'), ['subject'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('issued_certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issued_certificates_subject'))
    op.drop_table('issued_certificates')
