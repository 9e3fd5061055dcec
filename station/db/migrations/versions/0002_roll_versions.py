"""roll versions: the commission's change history and target registry, packages issued and applied

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('roll_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('cnic', sa.String(length=15), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=True),
    sa.Column('fields', sa.Text(), nullable=False),
    sa.Column('old_polling_station', sa.String(length=32), nullable=True),
    sa.Column('new_polling_station', sa.String(length=32), nullable=True),
    sa.Column('operator', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('roll_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_roll_changes_revision'), ['revision'], unique=False)
        batch_op.create_index(batch_op.f('ix_roll_changes_cnic'), ['cnic'], unique=False)

    op.create_table('package_targets',
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=16), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('station_id')
    )
    op.create_table('issued_packages',
    sa.Column('package_id', sa.String(length=32), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('voters', sa.Integer(), nullable=False),
    sa.Column('removals', sa.Integer(), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('package_id')
    )
    with op.batch_alter_table('issued_packages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issued_packages_station_id'), ['station_id'], unique=False)

    op.create_table('applied_packages',
    sa.Column('package_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('base_version', sa.Integer(), nullable=True),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('signer', sa.String(length=16), nullable=False),
    sa.Column('voters', sa.Integer(), nullable=False),
    sa.Column('removals', sa.Integer(), nullable=False),
    sa.Column('operator', sa.String(length=64), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('package_id')
    )


def downgrade() -> None:
    op.drop_table('applied_packages')
    with op.batch_alter_table('issued_packages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issued_packages_station_id'))

    op.drop_table('issued_packages')
    op.drop_table('package_targets')
    with op.batch_alter_table('roll_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_roll_changes_cnic'))
        batch_op.drop_index(batch_op.f('ix_roll_changes_revision'))

    op.drop_table('roll_changes')
