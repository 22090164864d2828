"""Alembic environment: run with a connection handed in by gateway.spend.db.migrate()."""

from alembic import context

from gateway.spend.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` CLI use: build an engine from sqlalchemy.url
    from sqlalchemy import engine_from_config, pool

    engine = engine_from_config(context.config.get_section(context.config.config_ini_section) or {},
                                prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
