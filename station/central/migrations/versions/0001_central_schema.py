"""central schema: the commission's results database for a whole election

Every table of station/central/models.py. On PostgreSQL the two big tables, central_ballots and
central_verification_sessions (one row per voter who came: 2.7 million for AJK), are declaratively partitioned by
HASH (station_id) into PARTITIONS partitions: the station id is in every row (the constituency is not always), a
station's rows land in one partition, and the natural key (station_id, session_id) is the primary key, so
``INSERT ... ON CONFLICT`` keeps concurrent merges idempotent. Their (cnic[, station_id]) indexes serve the
double-vote query; (constituency, polling_station) on central_imports the not-reported query.
The schema_version row (2) replaces the create_all schema of version 1, which this migration does not convert
(station/central/db.py refuses such a database).

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa

PARTITIONS = 16  # fixed here: another modulus is another migration
PARTITIONED = ("central_ballots", "central_verification_sessions")

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('central_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('constituency', sa.String(length=32), nullable=True),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('roll_digest', sa.String(length=64), nullable=True),
    sa.Column('roll_version', sa.String(length=32), nullable=True),
    sa.Column('poll_state', sa.String(length=16), nullable=False),
    sa.Column('audit_entries', sa.Integer(), nullable=False),
    sa.Column('audit_sealed', sa.Boolean(), nullable=False),
    sa.Column('audit_bundle', sa.LargeBinary(), nullable=False),
    sa.Column('warnings', sa.Text(), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('file_sha256')
    )
    with op.batch_alter_table('central_imports', schema=None) as batch_op:
        batch_op.create_index('ix_central_imports_polling_station', ['constituency', 'polling_station'], unique=False)
        batch_op.create_index(batch_op.f('ix_central_imports_station_id'), ['station_id'], unique=False)

    op.create_table('central_meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('central_ballots',
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('cnic', sa.String(length=15), nullable=False),
    sa.Column('voted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_by', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=16), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['central_imports.id'], ),
    sa.PrimaryKeyConstraint('station_id', 'session_id'),
    postgresql_partition_by='HASH (station_id)'
    )
    with op.batch_alter_table('central_ballots', schema=None) as batch_op:
        batch_op.create_index('ix_central_ballots_cnic', ['cnic', 'station_id'], unique=False)

    op.create_table('central_enrollments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('enrollment_id', sa.String(length=64), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=True),
    sa.Column('cnic', sa.String(length=15), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('operator', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision', sa.String(length=16), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('duplicate_of', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['central_imports.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('station_id', 'enrollment_id', name='uq_central_enrollment')
    )
    with op.batch_alter_table('central_enrollments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_central_enrollments_cnic'), ['cnic'], unique=False)

    op.create_table('central_polling_stations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('constituency', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('constituency_name', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('first_import_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['first_import_id'], ['central_imports.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('constituency', 'code', name='uq_central_polling_station')
    )
    op.create_table('central_stations',
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('constituency', sa.String(length=32), nullable=True),
    sa.Column('public_key_sha256', sa.String(length=64), nullable=False),
    sa.Column('certificate_pem', sa.Text(), nullable=False),
    sa.Column('first_import_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['first_import_id'], ['central_imports.id'], ),
    sa.PrimaryKeyConstraint('station_id')
    )
    with op.batch_alter_table('central_stations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_central_stations_polling_station'), ['polling_station'], unique=False)

    op.create_table('central_verification_sessions',
    sa.Column('station_id', sa.String(length=64), nullable=False),
    sa.Column('session_id', sa.String(length=36), nullable=False),
    sa.Column('polling_station', sa.String(length=32), nullable=False),
    sa.Column('cnic', sa.String(length=15), nullable=False),
    sa.Column('serial_number', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('operator', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=16), nullable=True),
    sa.Column('exception_reason', sa.String(length=32), nullable=True),
    sa.Column('exception_note', sa.Text(), nullable=True),
    sa.Column('fingerprint_attempts', sa.Integer(), nullable=False),
    sa.Column('face_attempts', sa.Integer(), nullable=False),
    sa.Column('gender_mismatch', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['central_imports.id'], ),
    sa.PrimaryKeyConstraint('station_id', 'session_id'),
    postgresql_partition_by='HASH (station_id)'
    )
    with op.batch_alter_table('central_verification_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_central_verification_sessions_cnic', ['cnic'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # the audit bundle is a deflated zip already: stored out of line without another compression attempt
        op.execute("ALTER TABLE central_imports ALTER COLUMN audit_bundle SET STORAGE EXTERNAL")
        for table in PARTITIONED:
            for remainder in range(PARTITIONS):
                op.execute(f"CREATE TABLE {table}_p{remainder:02d} PARTITION OF {table} "
                           f"FOR VALUES WITH (MODULUS {PARTITIONS}, REMAINDER {remainder})")
    op.bulk_insert(sa.table("central_meta", sa.column("key"), sa.column("value")),
                   [{"key": "schema_version", "value": "2"}])


def downgrade() -> None:
    for table in ("central_verification_sessions", "central_stations", "central_polling_stations",
                  "central_enrollments", "central_ballots", "central_meta", "central_imports"):
        op.drop_table(table)  # indexes and partitions go with their table
