"""central_imports.kind: whose sync file an import was, a polling station's or a registration centre's

A registration centre's file brings its registrations to the central database and reports for no polling station
(station/central/verify.py). Every file imported before this revision was a polling station's: with a commission
certificate a centre's file was refused, and without one every file counted as a polling station's.
The schema_version row becomes 3.

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
    op.add_column('central_imports', sa.Column('kind', sa.String(length=24), nullable=False,
                                               server_default='polling_station'))
    meta = sa.table('central_meta', sa.column('key', sa.String), sa.column('value', sa.Text))
    op.execute(meta.update().where(meta.c.key == 'schema_version').values(value='3'))


def downgrade() -> None:
    meta = sa.table('central_meta', sa.column('key', sa.String), sa.column('value', sa.Text))
    op.execute(meta.update().where(meta.c.key == 'schema_version').values(value='2'))
    with op.batch_alter_table('central_imports', schema=None) as batch_op:
        batch_op.drop_column('kind')
