"""match_log privileges: on PostgreSQL the station's role may no longer UPDATE, DELETE or TRUNCATE the log

The append-only trigger refuses UPDATE and DELETE row by row, but TRUNCATE fires no row trigger and the table's
owner can disable or drop the trigger. Revoking the privileges from PUBLIC and from the role running the migration
(normally the station's own, the owner) closes TRUNCATE and adds a second refusal; the owner can grant them back
and keeps ALTER and DROP (PostgreSQL cannot revoke those from an owner): docs/audit-log.md. ``station doctor`` reports
whether the current role still holds any of them. Nothing to do on SQLite.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON match_log FROM PUBLIC")
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON match_log FROM CURRENT_USER")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("GRANT UPDATE, DELETE, TRUNCATE ON match_log TO CURRENT_USER")
