"""Celery's broker URL for a REDIS_URL: the same server, in the scheme kombu reads.

redis-py (the cache, the sync client) and core/redis_pipelined.py take a Unix socket as
`unix:///path?db=N`; kombu has no `unix` transport (the worker stops with "No such transport")
and names it `redis+socket:///path?virtual_host=N`. A Redis on the gateway's machine is cheaper
over its socket than over loopback TCP (bench/README.md, "Redis over a Unix socket").
"""

from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured


def celery_broker_url(*, redis_url: str) -> str:
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    if parts.username or parts.password or not parts.path:
        raise ImproperlyConfigured(
            "REDIS_URL: a Unix socket is given as unix:///path/to/redis.sock[?db=N], without "
            "credentials (the socket's file permissions are its access control)."
        )
    db = parse_qs(parts.query).get("db", ["0"])[0]
    if not db.isdigit():
        raise ImproperlyConfigured("REDIS_URL: the db of a Unix socket URL must be a number.")
    return f"redis+socket://{parts.path}?virtual_host={db}"
