"""REDIS_URL as a Unix socket (`unix:///path?db=N`), for a Redis on the gateway's machine: the
request path's pipelined client, the cache and Celery's broker all reach it. kombu reads the
socket under another scheme (config/broker_url.py); before that the worker stopped with
"No such transport: unix"."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from kombu import Connection

from config.broker_url import celery_broker_url
from core import redis as redis_config
from gateway.services.ratelimit import rate_limit_admit

ROOT = Path(__file__).resolve().parents[2]


def test_a_unix_socket_url_is_told_to_kombu_in_its_own_scheme():
    assert (
        celery_broker_url(redis_url="unix:///run/tollgate/redis.sock?db=3")
        == "redis+socket:///run/tollgate/redis.sock?virtual_host=3"
    )
    assert (
        celery_broker_url(redis_url="unix:///run/tollgate/redis.sock")
        == "redis+socket:///run/tollgate/redis.sock?virtual_host=0"
    )
    assert celery_broker_url(redis_url="redis://cache:6380/2") == "redis://cache:6380/2"
    assert celery_broker_url(redis_url="rediss://u:p@cache/1") == "rediss://u:p@cache/1"


@pytest.mark.parametrize(
    "url", ["unix://:secret@/run/redis.sock", "unix://", "unix:///run/redis.sock?db=one"]
)
def test_a_unix_socket_url_it_cannot_tell_kombu_is_refused_without_echoing_it(url):
    with pytest.raises(ImproperlyConfigured) as refused:
        celery_broker_url(redis_url=url)
    assert "secret" not in str(refused.value)


def test_the_settings_give_celery_the_socket_in_kombus_scheme():
    probe = "import config.settings as s; print(s.CELERY_BROKER_URL)"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "true",
        "REDIS_URL": "unix:///run/tollgate/redis.sock?db=5",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "redis+socket:///run/tollgate/redis.sock?virtual_host=5"


def test_broker_cache_and_request_path_all_reach_redis_over_its_socket(private_redis, settings):
    url = private_redis.socket_url

    with Connection(celery_broker_url(redis_url=url)) as connection:  # what the worker opens
        queue = connection.SimpleQueue("tollgate-socket-check")
        queue.put({"task": "usage_events_drain"})
        message = queue.get(timeout=5)
        assert message.payload == {"task": "usage_events_drain"}
        message.ack()
        queue.close()

    settings.CACHES = {
        "socket": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    caches["socket"].set("tollgate:socket-check", "ok", 30)
    assert private_redis.client().exists(":1:tollgate:socket-check")
    assert caches["socket"].get("tollgate:socket-check") == "ok"

    settings.REDIS_URL = url

    async def two_admissions():
        try:
            return [
                await rate_limit_admit(key_id=99, rpm_limit=1, tpm_limit=None, tokens=0)
                for _ in range(2)
            ]
        finally:
            redis_config.close_pipelined_redis()

    assert asyncio.run(two_admissions()) == [None, 60]  # counted in that Redis, over the socket
    assert private_redis.client().exists("tollgate:rl:99:r")
