"""/readyz against a real outage: a gateway process on a private PostgreSQL cluster answers 200,
503 naming the database while the cluster is stopped, and 200 again once it is back (a broken
kept connection is replaced, not reported forever). The Redis case runs in-process
(gateway/tests/test_ops.py)."""

import os
import subprocess
import sys

import httpx
import pytest

from tests.integration.conftest import PLATFORM_KEYS
from tests.integration.gateway_processes import ROOT, gateway_processes

pytestmark = pytest.mark.slow


def _readyz(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=30)


def test_readyz_follows_the_database_down_and_back(private_postgres, tmp_path):
    env = {
        **os.environ,
        **PLATFORM_KEYS,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DATABASE_URL": private_postgres.create_database("tg_readyz"),
    }
    env.pop("REDIS_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    loaded = subprocess.run(
        [sys.executable, "manage.py", "load_catalog"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    with gateway_processes(env=env, log_dir=tmp_path, count=1) as [url]:
        up = _readyz(url)
        assert up.status_code == 200, up.text
        assert up.json()["checks"] == {
            "database": "ok",
            "redis": "skipped",
            "migrations": "ok",
            "catalog": "ok",
        }
        private_postgres.stop()
        try:
            down = _readyz(url)
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "fail"
            assert body["checks"]["database"].startswith("fail: database unreachable")
            assert body["checks"]["catalog"].startswith("fail")
            assert str(private_postgres.port) not in down.text
            assert httpx.get(f"{url}/healthz").status_code == 200  # alive, not ready
        finally:
            private_postgres.start()
        assert _readyz(url).status_code == 200
