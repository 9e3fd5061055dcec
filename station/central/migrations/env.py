"""Alembic environment of the central schema, apart from the station's own (station/db/migrations): the caller
(``station.central.db``) passes its connection in ``config.attributes['connection']``; the revision is kept in
``central_alembic_version``, so a central database and a station database never mistake each other's history.

``station.central.models`` holds every central table: ``CentralBase.metadata`` is what the migrations must produce."""
from alembic import context

from station.central.models import VERSION_TABLE, CentralBase

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=CentralBase.metadata, version_table=VERSION_TABLE,
                  render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
