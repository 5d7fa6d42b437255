"""Django's SQLite backend, with writers waiting their turn in the kernel instead of in
SQLite's busy handler (ENGINE "sqlite_backend"; portal/settings.py uses it for SQLite)."""
