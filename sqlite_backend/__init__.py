"""Django's SQLite backend, waiting for the write lock in short steps instead of in SQLite's busy
handler (ENGINE "sqlite_backend"; portal/settings.py uses it for SQLite)."""
