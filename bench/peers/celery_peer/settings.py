"""Settings of the Celery peer: one app, the middleware a new Django project starts with that
an API needs, the database from PEER_DATABASE_URL and Redis database 7 as Celery's broker and
as the cache its per-client signup limit is counted in."""

import os
from pathlib import Path

import dj_database_url

SECRET_KEY = os.getenv("SECRET_KEY", "peer-benchmark-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["bench.peers.celery_peer"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.peers.celery_peer.urls"
WSGI_APPLICATION = "bench.peers.celery_peer.wsgi.application"
SQLITE_PATH = Path(os.environ["PEER_VAR_DIR"]) / "celery-peer.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("PEER_DATABASE_URL") or f"sqlite:///{SQLITE_PATH}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {  # as the portal's
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.getenv("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = int(os.getenv("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = "Signup Peer <noreply@localhost>"

# Celery's reliable configuration: a task is acknowledged only once it ran, and given to another
# worker if its worker dies; each worker process reserves one task at a time.
CELERY_BROKER_URL = os.getenv("PEER_BROKER_URL", "redis://127.0.0.1:6379/7")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Longer than any task, so that Redis does not hand out again a task still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Signups per client per hour, as the portal's SIGNUPS_PER_CLIENT_HOURLY: counted by
# django-ratelimit in the Redis the peer has anyway (the portal, with no Redis, counts in its
# database).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CELERY_BROKER_URL,
        "KEY_PREFIX": "peer-cache",
    }
}
SIGNUPS_PER_CLIENT_HOURLY = int(os.getenv("SIGNUPS_PER_CLIENT_HOURLY", "20"))
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
