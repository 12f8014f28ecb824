"""Readiness (GET /readyz): can this process serve requests now?

Four checks, each "ok", "skipped" or "fail: <why>" (the why names a cause, never a URL or a
credential): the database answers a trivial query; every migration is applied (remembered
once true: migrations are not un-applied under a running process); Redis answers PING when
REDIS_URL is set; the catalog has at least one active, priced model of an active provider.
Each check runs in a thread with a deadline, so a server that hangs fails the check instead of
the probe.
"""

from __future__ import annotations

import asyncio

from asgiref.sync import sync_to_async
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.db import connection_refresh
from core.redis import get_redis
from llm.api.selectors import catalog_has_priced_model

CHECK_TIMEOUT_SECONDS = 5.0
OK, SKIPPED = "ok", "skipped"

_migrated = False


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _database() -> str:
    """SELECT 1, once more on a fresh connection when a kept one fails (a restarted server)."""
    connection_refresh()
    try:
        _select_one()
    except Exception:
        connection.close()
        try:
            _select_one()
        except Exception as exc:
            connection.close()
            return f"fail: database unreachable ({type(exc).__name__})"
    return OK


def _migrations() -> str:
    global _migrated
    if _migrated:
        return OK
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return f"fail: {len(pending)} migrations not applied"
    _migrated = True
    return OK


def _catalog() -> str:
    return OK if catalog_has_priced_model() else "fail: no active priced model in the catalog"


def _database_checks() -> dict[str, str]:
    """The three checks that need the database, on a connection closed afterwards: a probe
    every few seconds should not hold a connection in each executor thread it lands on."""
    try:
        database = _database()
        if database != OK:
            return {"database": database, "migrations": "fail: no database", "catalog": database}
        checks = {"database": database}
        for name, check in (("migrations", _migrations), ("catalog", _catalog)):
            try:
                checks[name] = check()
            except Exception as exc:
                checks[name] = f"fail: {type(exc).__name__}"
        return checks
    finally:
        connection.close()


def _redis() -> str:
    client = get_redis()
    if client is None:
        return SKIPPED
    try:
        client.ping()
    except Exception as exc:
        return f"fail: redis unreachable ({type(exc).__name__})"
    return OK


async def readiness() -> tuple[bool, dict]:
    """(ready, the contract's body {"status", "checks"})."""
    database, redis_check = await asyncio.gather(
        _in_thread(_database_checks), _in_thread(_redis), return_exceptions=False
    )
    if isinstance(database, str):  # the thread timed out or failed: one cause for all three
        database = dict.fromkeys(("database", "migrations", "catalog"), database)
    checks = {
        "database": database["database"],
        "redis": redis_check,
        "migrations": database["migrations"],
        "catalog": database["catalog"],
    }
    ready = all(value in (OK, SKIPPED) for value in checks.values())
    return ready, {"status": "ok" if ready else "fail", "checks": checks}


async def _in_thread(check):
    try:
        return await asyncio.wait_for(
            sync_to_async(check, thread_sensitive=False)(), CHECK_TIMEOUT_SECONDS
        )
    except TimeoutError:
        return f"fail: no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:
        return f"fail: {type(exc).__name__}"
