"""The ``server`` storage profile: PostgreSQL, with TimescaleDB when the server offers it.

- ``pool``: ``PoolConfig``, ``open_pool`` (bounded start-up retries), ``pool_resource``
- ``migrate``: ``upgrade``/``upgrade_database``, ``migration_status``, ``ensure_up_to_date``
- ``timescale``: the storage layout of each path and ``inspect_layout`` (which path is active)
- ``info``: ``database_info`` for ``arbx db info`` and ``/ready``
- ``bar_store``: ``PostgresBarStore``
"""
