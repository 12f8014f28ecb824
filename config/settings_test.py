"""Test settings: the normal settings with fixed test secrets.

DATABASE_URL and REDIS_URL still come from the environment, so `make test` runs on PostgreSQL
and Redis when they are set (as `.ci/run` does) and on SQLite otherwise.
"""

import atexit
import contextlib
import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("TOLLGATE_ENCRYPTION_KEYS", "dGVzdC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY=")
os.environ.setdefault("TOLLGATE_ALLOW_PRIVATE_UPSTREAMS", "true")
# One shared-state file per test run (inherited by the processes a test starts).
os.environ.setdefault(
    "TOLLGATE_SHARED_STATE_FILE",
    os.path.join(tempfile.gettempdir(), f"tollgate-state-{os.getpid()}.sqlite3"),
)

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as the embedded default runs, not Django's shared-cache in-memory database: there
    # concurrent connections (the live server's threads, worker processes) get "database table is
    # locked" at once, with no busy timeout, where WAL and the timeout make a file wait its turn.
    # One file per test run, so that concurrent runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.environ.get(
            "TOLLGATE_TEST_SQLITE",
            os.path.join(tempfile.gettempdir(), f"tollgate-test-{os.getpid()}.sqlite3"),
        )
    }
# Tests serve no collected static files (there is no STATIC_ROOT to serve them from).
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]  # noqa: F405


def _remove_shared_state_file(path: str = os.environ["TOLLGATE_SHARED_STATE_FILE"]) -> None:
    if path.endswith(f"-{os.getpid()}.sqlite3"):  # the run that named it, not its children
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path + suffix)


atexit.register(_remove_shared_state_file)
