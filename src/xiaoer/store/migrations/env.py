"""Alembic environment: always driven programmatically with a live connection.

`xiaoer migrate` (and every command that opens the database) calls `store.db.migrate`, which
passes its connection in `config.attributes["connection"]`.
"""

from alembic import context

from xiaoer.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `xiaoer migrate`, not the alembic CLI")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
