"""Settings for the signup portal, read from the environment.

Every value has a development default, so a fresh clone runs with no configuration: a SQLite
file in the project directory as database and queue, emails written to files under ``var/mail``.
Production sets at least ``SECRET_KEY``, ``DEBUG=False``, ``ALLOWED_HOSTS`` and ``DATABASE_URL``.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime files (SQLite database, development mail, collected static files); git-ignored.
VAR_DIR = Path(os.getenv("PORTAL_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def envbool(name: str, default: str) -> bool:
    """Accept only 'True' or 'False', so that a typo such as DEBUG=flase fails loudly."""
    value = os.getenv(name, default)
    if value not in ("True", "False"):
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use 'True' or 'False'")
    return value == "True"


def envint(name: str, default: int) -> int:
    value = os.getenv(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"Unexpected value {name}={value!r}, use a whole number"
        ) from None


def envfloat(name: str, default: float) -> float:
    value = os.getenv(name, str(default))
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"Unexpected value {name}={value!r}, use a number") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


def checkout_secret_key() -> str:
    """A key of this checkout's own, made once and kept in VAR_DIR (git-ignored), so that no
    development key is ever published; the web server and the workers read the same file."""
    path = VAR_DIR / "secret-key"
    try:
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
            file.write(secrets.token_urlsafe(50))
    except FileExistsError:
        pass
    return path.read_text().strip()


DEBUG = envbool("DEBUG", "True")
SECRET_KEY = os.getenv("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY when DEBUG=False.")
    SECRET_KEY = checkout_secret_key()

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

# Production hardening, on by default when DEBUG=False (check --deploy passes).
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(not DEBUG))
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes may use plain HTTP
if envbool("BEHIND_TLS_PROXY", "False"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front of the web server append to X-Forwarded-For; the client's address is
# the one the farthest trusted proxy saw. 0: the peer address (REMOTE_ADDR), the header ignored.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", str(not DEBUG))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", str(not DEBUG))
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", "False")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")


def development_base_url(address: str) -> str:
    """Where `runserver ADDRESS` (the Procfile's PORTAL_ADDRESS) is reached from this host."""
    host, _, port = address.rpartition(":")
    if host in ("", "0", "0.0.0.0", "[::]"):  # noqa: S104 - a listening address, not a binding
        host = "127.0.0.1"
    return f"http://{host}:{port}"


# The address people open: links in emails start with it. Production must say it; development
# follows the development server's own address, so that links work on any port.
PORTAL_BASE_URL = os.getenv("PORTAL_BASE_URL", "").rstrip("/")
if not PORTAL_BASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured(
            "Set PORTAL_BASE_URL (the address people open, e.g. https://portal.example.com) "
            "when DEBUG=False: links in emails start with it."
        )
    PORTAL_BASE_URL = development_base_url(os.getenv("PORTAL_ADDRESS", "127.0.0.1:8000"))

INSTALLED_APPS = [
    "accounts",
    "taskqueue",
    "operations",
    "webhooks",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",  # its translations: "3 minutes ago" in each language
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "throttling",
    "ninja",
    "django_q",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before the middleware that may refuse a request, so that its answers carry the policy too.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the switcher's cookie, else Accept-Language (URLs carry no prefix).
    "django.middleware.locale.LocaleMiddleware",
    "portal.middleware.BodySizeLimitMiddleware",  # before anything reads a body
    # Before CommonMiddleware: an API address without its trailing slash gets a JSON answer.
    "portal.middleware.JsonApiMiddleware",
    "portal.middleware.SlashAppendingMiddleware",  # Django's CommonMiddleware, keeping a POST
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "operations.middleware.DatabaseUnavailableMiddleware",
    "accounts.login_throttle.LoginLockoutMiddleware",
]

# Every page, the admin and the API docs included, loads only the portal's own scripts, styles
# and images: an injected script or style would not run (django-csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"

TEMPLATES = [
    {
        # Our pages and emails: Jinja2 templates under templates/.
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"environment": "portal.jinja2.environment"},
    },
    {
        # The admin and the API docs ship Django templates; templates/django/ adds to them.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates" / "django"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite by default; WAL, a busy timeout and IMMEDIATE transactions let the web process and
# the qcluster workers write at the same time without "database is locked" errors.
SQLITE_PATH = VAR_DIR / "portal.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL") or f"sqlite:///{SQLITE_PATH}",
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        conn_health_checks=envbool("DB_CONN_HEALTH_CHECKS", "True"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend, with a writer waiting for the lock in short steps (sqlite_backend).
    DATABASES["default"]["ENGINE"] = "sqlite_backend"
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": envint("SQLITE_BUSY_TIMEOUT", 20),
    }
    # A file, not memory, so that the qcluster processes started by tests share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A cache in the database, shared by the web processes and the workers (no extra service):
# the workers' cluster status lives there, for /readyz, the status page and `qinfo`.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "portal_cache",
    }
}

AUTH_USER_MODEL = "accounts.User"
# Django's backend, refusing log-ins for a username or a client locked by repeated failures.
AUTHENTICATION_BACKENDS = ["accounts.login_throttle.ThrottledModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
LOGOUT_REDIRECT_URL = "accounts:home"
# Lifetime of the links in emails (verification, set or reset password), in seconds.
PASSWORD_RESET_TIMEOUT = envint("EMAIL_LINK_TIMEOUT", 3 * 24 * 3600)

# Limits (throttling, counters in the database). Requests for a verification or reset email:
# per client, and per client and address; one address gets at most one such email per cooldown,
# whoever asks, and the answer is the same either way, so nobody can lock out an address's owner.
EMAIL_REQUESTS_PER_ADDRESS_HOURLY = envint("EMAIL_REQUESTS_PER_ADDRESS_HOURLY", 3)
EMAIL_REQUESTS_PER_CLIENT_HOURLY = envint("EMAIL_REQUESTS_PER_CLIENT_HOURLY", 20)
EMAIL_REQUEST_COOLDOWN = envint("EMAIL_REQUEST_COOLDOWN", 60)
# True: a signup with an address that has an account is answered 409 email_taken (what API
# clients expect). False: it is answered as a success, and the address's owner gets an email
# saying someone tried, so the signup answer never tells whether an address has an account.
SIGNUP_REVEALS_TAKEN_EMAIL = envbool("SIGNUP_REVEALS_TAKEN_EMAIL", "True")
# Each signup costs an Argon2 hash and an email.
SIGNUPS_PER_CLIENT_HOURLY = envint("SIGNUPS_PER_CLIENT_HOURLY", 20)
# Log-ins: after LOGIN_FAILURE_LIMIT failures for one username, or LOGIN_CLIENT_FAILURE_LIMIT
# from one client, within LOGIN_LOCKOUT_MINUTES, log-ins for it are refused until those minutes
# have passed. A password reset lifts its username's lock; staff lift one with the accounts
# admin's action "Lift log-in lock". A client's limit is higher, so that one person's own
# failures lock their username only, which a reset or staff can lift.
LOGIN_FAILURE_LIMIT = envint("LOGIN_FAILURE_LIMIT", 5)
LOGIN_CLIENT_FAILURE_LIMIT = envint("LOGIN_CLIENT_FAILURE_LIMIT", 4 * LOGIN_FAILURE_LIMIT)
LOGIN_LOCKOUT_MINUTES = envint("LOGIN_LOCKOUT_MINUTES", 5)

LANGUAGE_CODE = "en"
# Pages, emails and API messages come in each of these; locale/ holds the portal's own catalogs.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SECURE = envbool("SECURE_COOKIES", str(not DEBUG))
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# In development WhiteNoise serves straight from the source folders; production runs collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
if not DEBUG:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# Signup requests are small; refuse large bodies before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024)

EMAIL_BACKEND = os.getenv("EMAIL_BACKEND", "portal.mail.MessageFileBackend")
EMAIL_FILE_PATH = os.getenv("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = os.getenv("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "False")
EMAIL_USE_SSL = envbool("EMAIL_USE_SSL", "False")
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "Signup Portal <noreply@localhost>")
SERVER_EMAIL = os.getenv("SERVER_EMAIL", DEFAULT_FROM_EMAIL)

# django-q2 on the ORM broker: the queue is a table in the default database, so a task
# enqueued inside the signup transaction commits or rolls back with the account. Q_BROKER_URL
# (redis://...) moves the queue to Redis instead; docs/operations.md, "A Redis broker", says
# what that changes.
Q_BROKER_URL = os.getenv("Q_BROKER_URL", "")
Q_BROKER_IS_DATABASE = not Q_BROKER_URL
# Enqueues wake the pusher at their commit (NOTIFY on PostgreSQL, a datagram to a socket in
# VAR_DIR on SQLite; taskqueue/wakeup.py) instead of it polling the queue table on a timer.
Q_WAKE_ON_COMMIT = envbool("Q_WAKE_ON_COMMIT", "True")
Q_CLUSTER = {
    "name": "portal",
    **(
        {"orm": "default", "broker_class": "taskqueue.broker.DatabaseBroker"}
        if Q_BROKER_IS_DATABASE
        else {"redis": Q_BROKER_URL}
    ),
    # 4 on 2 cores: the tasks wait on the SMTP server and the database (bench/README.md, item 10).
    "workers": envint("Q_WORKERS", 4),
    # Seconds a task may run before its worker is killed.
    "timeout": envint("Q_TIMEOUT", 30),
    # Seconds after which a claimed task whose worker died (crashed, killed, timed out) is
    # delivered again. A task that failed waits for its back-off instead (taskqueue.retries).
    "retry": envint("Q_RETRY", 60),
    # Attempts of a failing task before it fails for good; an operator can re-queue it then.
    # With the back-off below, the default 14 attempts spread over more than 26 hours.
    "max_attempts": envint("Q_MAX_ATTEMPTS", 14),
    "bulk": envint("Q_BULK", 4),
    # Seconds between the sentinel's rounds: it checks its processes and saves the cluster's
    # status (to the database cache) each time; that status lives 3 s, so stay below 3.
    "guard_cycle": envfloat("Q_GUARD_CYCLE", 2),
    # Tasks a worker process runs before it is replaced by a fresh one (bounds memory growth).
    # The workers reach it together, and a finished worker exits only once the monitor has read
    # all its results: while a backlog drains, each recycle stalls the cluster for seconds.
    "recycle": envint("Q_RECYCLE", 10000),
    # Seconds between polls of an empty queue: a fallback while enqueues wake the pusher.
    "poll": envfloat("Q_POLL", 5 if Q_WAKE_ON_COMMIT else 0.2),
    # Keep every result; taskqueue.results.prune_task_results deletes old ones on a schedule.
    "save_limit": 0,
    "ack_failures": False,
    "catch_up": False,
    "label": "Task queue",
}
# Seconds before a failed task's next attempt: BASE, doubling up to MAX (plus up to 20% jitter).
Q_RETRY_BACKOFF_BASE = envfloat("Q_RETRY_BACKOFF_BASE", 30)
Q_RETRY_BACKOFF_MAX = envfloat("Q_RETRY_BACKOFF_MAX", 6 * 3600)
# Seconds `manage.py worker` waits, once asked to stop, for the cluster's running tasks before
# it kills the cluster (those tasks are then delivered again after Q_RETRY).
Q_STOP_TIMEOUT = envint("Q_STOP_TIMEOUT", Q_CLUSTER["timeout"] + 10)
READY_MAX_QUEUE_AGE = envint("READY_MAX_QUEUE_AGE", 300)
# How often the staff status page refreshes itself, in seconds.
STATUS_REFRESH_SECONDS = envint("STATUS_REFRESH_SECONDS", 15)
# Who may scrape /metrics: a bearer token, and/or client addresses; nobody by default.
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = envlist("METRICS_ALLOWED_IPS", "")
TASK_RESULT_RETENTION_HOURS = envint("TASK_RESULT_RETENTION_HOURS", 7 * 24)
if Q_CLUSTER["max_attempts"] < 1:
    raise ImproperlyConfigured("Q_MAX_ATTEMPTS must be at least 1 (retries back off, see docs).")
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("Q_RETRY must be larger than Q_TIMEOUT, or tasks run twice.")

# The signup webhook: a signed account.created event POSTed after each signup.
SIGNUP_WEBHOOK_URL = os.getenv("SIGNUP_WEBHOOK_URL", "")
SIGNUP_WEBHOOK_SECRET = os.getenv("SIGNUP_WEBHOOK_SECRET", "")
if SIGNUP_WEBHOOK_URL and not SIGNUP_WEBHOOK_SECRET:
    raise ImproperlyConfigured("Set SIGNUP_WEBHOOK_SECRET when SIGNUP_WEBHOOK_URL is set.")
WEBHOOK_TIMEOUT = envfloat("WEBHOOK_TIMEOUT", 5)
# Seconds before each retry; the scheduler that runs them wakes every 30 seconds.
WEBHOOK_RETRY_DELAYS = [int(delay) for delay in envlist("WEBHOOK_RETRY_DELAYS", "30,120,600,3600")]

LOG_LEVEL = os.getenv("LOG_LEVEL", "INFO")
LOG_FORMAT = os.getenv("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"Unexpected value LOG_FORMAT={LOG_FORMAT!r}, use plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "task": {"()": "operations.log.TaskContextFilter"},
        "redact": {"()": "operations.log.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s [%(process)d] %(name)s [task %(task)s] %(message)s"
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(process)d %(name)s %(task)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["task", "redact"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "accounts": {"level": LOG_LEVEL},
        "taskqueue": {"level": LOG_LEVEL},
        "operations": {"level": LOG_LEVEL},
        "webhooks": {"level": LOG_LEVEL},
        "throttling": {"level": LOG_LEVEL},
        "django-q": {"level": LOG_LEVEL},
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
