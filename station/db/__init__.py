"""The database: engine and sessions (``engine``), the ORM models per area (``models``), Alembic migrations
(``migrations``) and the transaction factory services receive (``transactions``)."""
