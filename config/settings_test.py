"""Test settings: the normal settings with fixed test secrets.

DATABASE_URL and REDIS_URL still come from the environment, so `make test` runs on PostgreSQL
and Redis when they are set (as `.ci/run` does) and on SQLite otherwise.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("TOLLGATE_ENCRYPTION_KEYS", "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=")
os.environ.setdefault("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "true")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests serve no collected static files (there is no STATIC_ROOT to serve them from).
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405
