"""arbx's SQLite migrations: ``NNNN_name.sql`` files applied in order by ``SqliteDatabase``.

Add a file with the next free number; never edit or rename one that has been released.
Each file is plain SQL without BEGIN/COMMIT (the runner gives it its own transaction).
"""
