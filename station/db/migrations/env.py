"""Alembic environment: the station passes its own connection in ``config.attributes['connection']``.

``station.db.models`` imports every table module, so ``Base.metadata`` holds every table of the station."""
from alembic import context

from station.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
