"""Settings, all read from the environment (django-environ).

With no environment at all the system runs on the embedded default: SQLite, an in-process cache
and Celery's filesystem transport. Setting DATABASE_URL / REDIS_URL switches the same code to
PostgreSQL and Redis. A `.env` file in the project root (written by `make run` on first start)
is read too; real environment variables win over it.
"""

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.broker_url import celery_broker_url
from config.secrets_check import refuse_weak_secrets

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "insecure-dev-only-secret-key"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# config/settings_test.py imports this module with its fixed test secrets over plain http: the
# production refusals below (weak secrets, HTTPS-only defaults) do not apply to it.
_TEST_SETTINGS = "config.settings_test" in sys.modules

# --- HTTPS, cookies, HSTS (README.md, "Configuration") ----------------------------------------
# With DEBUG off Tollgate assumes HTTPS in front of it: http is redirected, cookies are
# secure-only, browsers are told to use HTTPS for a year. DEBUG (as `make run` sets in .env) or
# TOLLGATE_PLAIN_HTTP=true (production settings served over plain http, e.g. on 127.0.0.1)
# turn these defaults off; each can still be set on its own.
_HTTPS = not (DEBUG or _TEST_SETTINGS or env.bool("TOLLGATE_PLAIN_HTTP", default=False))
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes come over plain http
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS)
# Preloading is the operator's commitment (anyone may submit a domain whose header asks for
# it, and removal takes months): opt-in, so the deploy check's reminder (W021) is silenced.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a TLS-terminating proxy that sets (and overwrites) the header: e.g.
# "HTTP_X_FORWARDED_PROTO,https". Unset: uvicorn's own --forwarded-allow-ips handling applies.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be HEADER,value.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if _proxy_ssl_header else None

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "tenants",
    "llm",
    "billing",
    "gateway",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # streaming responses must not run in a transaction
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several web processes and the worker write one file: WAL lets readers run beside the
    # writer, BEGIN IMMEDIATE takes the write lock when a transaction starts (a deferred one that
    # upgrades later fails at once instead of waiting), and the timeout is how long a writer waits.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT spends ~150 ms compiling any plan with a high cost estimate (rollup and
    # dashboard reads over millions of rows) that then runs in tens of ms (bench/README.md).
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options["options"] = f"{_pg_options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache, Celery ---------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
    CELERY_BROKER_URL = celery_broker_url(redis_url=REDIS_URL)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": 3600}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "filesystem://"
    _celery_queue = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue),
        "data_folder_out": str(_celery_queue),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "admin:login"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Email ------------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="tollgate@localhost")

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tollgate management API",
    "DESCRIPTION": (
        "Manage routing configs, BYOK credentials, API keys, budgets, usage and exports."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Logging ----------------------------------------------------------------------------------
# `plain` (readable, the default for `make run`) or `json` (one object per line: docker-compose
# sets it); the gateway's one line per request carries the same fields either way.
TOLLGATE_LOG_FORMAT = env.str("TOLLGATE_LOG_FORMAT", default="plain")
if TOLLGATE_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("TOLLGATE_LOG_FORMAT must be plain or json.")
# Every log record is redacted as it is made, for every handler (core/logging.py).
LOGGING_CONFIG = "core.logging.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "core.logging.RedactSecretsFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.log_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "core.log_handler.TurnBufferedStreamHandler",  # one write per loop turn
            "formatter": TOLLGATE_LOG_FORMAT,
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}, "httpcore": {"level": "WARNING"}},
}

# --- Tollgate ---------------------------------------------------------------------------------
# Comma-separated url-safe base64 AES-256 keys, newest first. Never derived from SECRET_KEY.
TOLLGATE_ENCRYPTION_KEYS = env.list("TOLLGATE_ENCRYPTION_KEYS", default=[])
if not TOLLGATE_ENCRYPTION_KEYS and not DEBUG:
    raise ImproperlyConfigured(
        "TOLLGATE_ENCRYPTION_KEYS must be set when DEBUG is off "
        "(python -m config.keygen prints a new key)."
    )
if not DEBUG and not _TEST_SETTINGS:
    refuse_weak_secrets(secret_key=SECRET_KEY, encryption_keys=TOLLGATE_ENCRYPTION_KEYS)
TOLLGATE_ALLOW_PRIVATE_UPSTREAMS = env.bool("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", default=False)
TOLLGATE_HTTP_TRANSPORT = env.str("TOLLGATE_HTTP_TRANSPORT", default="aiohttp")  # or "httpx"
TOLLGATE_UPSTREAM_TIMEOUT_SECONDS = env.float("TOLLGATE_UPSTREAM_TIMEOUT_SECONDS", default=60.0)
TOLLGATE_REQUEST_DEADLINE_SECONDS = env.float("TOLLGATE_REQUEST_DEADLINE_SECONDS", default=120.0)
# Read on every request: a body larger than this is refused (413); upstream retries on the same
# model, their backoff and the longest Retry-After honoured; the circuit breaker.
TOLLGATE_MAX_BODY_BYTES = 20 * 1024 * 1024
TOLLGATE_MAX_RETRIES = 1
TOLLGATE_RETRY_BASE_SECONDS = 0.2
TOLLGATE_MAX_RETRY_AFTER_SECONDS = 10.0
TOLLGATE_BREAKER_THRESHOLD = 5
TOLLGATE_BREAKER_COOLDOWN_SECONDS = 30.0
TOLLGATE_CATALOG_FILE = BASE_DIR / "llm" / "catalog" / "catalog.json"
TOLLGATE_USAGE_RETENTION_DAYS = env.int("TOLLGATE_USAGE_RETENTION_DAYS", default=400)
# Monthly statements (docs/billing.md): late-usage grace window after a tenant's month ends,
# the number prefix (TG-2026-11-000123), and an optional fee per BYOK request (USD, 0 = none).
TOLLGATE_BILLING_GRACE_HOURS = env.int("TOLLGATE_BILLING_GRACE_HOURS", default=48)
TOLLGATE_STATEMENT_PREFIX = env.str("TOLLGATE_STATEMENT_PREFIX", default="TG")
TOLLGATE_BYOK_REQUEST_FEE_USD = env.str("TOLLGATE_BYOK_REQUEST_FEE_USD", default="0")
# The plan of a new tenant: provider slugs it may use (empty: every provider with a key).
TOLLGATE_DEFAULT_ALLOWED_PROVIDERS = env.list("TOLLGATE_DEFAULT_ALLOWED_PROVIDERS", default=[])
# Embedded default only (no REDIS_URL): the SQLite file in which every web process shares
# idempotency claims, rate-limit windows, the response cache, breakers and snapshot versions.
TOLLGATE_SHARED_STATE_FILE = env.path(
    "TOLLGATE_SHARED_STATE_FILE", default=str(VAR_DIR / "shared-state.sqlite3")
)

# Operations (README.md, "Operations"): GET /metrics answers only `Authorization: Bearer` this
# token (404 without it, or when it is unset); recording can be switched off (bench comparison).
TOLLGATE_METRICS_TOKEN = env.str("TOLLGATE_METRICS_TOKEN", default="")
TOLLGATE_METRICS_ENABLED = env.bool("TOLLGATE_METRICS_ENABLED", default=True)

# --- Admin UI (django-unfold) -----------------------------------------------------------------
from config.unfold import UNFOLD  # noqa: E402, F401
