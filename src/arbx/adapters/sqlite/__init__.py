"""SQLite: the local profile's store for everything that is not a bar series."""

from arbx.adapters.sqlite.database import DEFAULT_MIGRATIONS, SqliteDatabase
from arbx.adapters.sqlite.schema import Migration, load_migrations

__all__ = ["DEFAULT_MIGRATIONS", "Migration", "SqliteDatabase", "load_migrations"]
