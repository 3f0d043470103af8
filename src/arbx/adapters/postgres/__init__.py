"""The ``server`` storage profile: PostgreSQL, with TimescaleDB when the server offers it.

- ``pool``: ``PoolConfig``, ``open_pool`` (bounded start-up retries), ``pool_resource``
- ``migrate``: ``upgrade_database`` (``arbx db upgrade``, serve with migrate-on-start),
  ``check_database`` (serve without it), ``migration_status``, ``upgrade``
- ``timescale``: ``LayoutOptions``, the storage layout of each path, ``inspect_layout``
- ``info``: ``database_info`` for ``arbx db info`` and ``/ready``
- stores: ``PostgresBarStore``, ``PostgresQualityStore``, ``PostgresRunStore``,
  ``PostgresJobStore``, ``PostgresUserStore``, ``PostgresApiKeyStore``,
  ``PostgresRefreshTokenStore``, ``PostgresAuditLog``
"""
