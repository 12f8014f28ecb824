"""The hot path for a warm tenant: no database query; snapshots invalidated on change."""

import time

from django.db.backends import utils as db_utils

from tests.integration.conftest import MESSAGES

BODY = {"model": "auto", "messages": MESSAGES}


def test_no_database_query_for_a_warm_tenant(gw, redis_client, monkeypatch):
    for _ in range(2):  # warm up: key, configs, catalog, budgets
        assert gw.post(BODY).status_code == 200
    assert gw.post({**BODY, "stream": True}).status_code == 200
    time.sleep(1.5)  # the throttled last_used_at write happens now, off the request path

    statements: list[str] = []
    original = db_utils.CursorWrapper.execute

    def counting(self, sql, params=None):
        statements.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(db_utils.CursorWrapper, "execute", counting)
    for _ in range(5):
        assert gw.post(BODY).status_code == 200
    assert gw.post({**BODY, "stream": True}).status_code == 200
    time.sleep(0.3)
    assert statements == []


def test_config_change_is_seen_at_once(gw):
    assert gw.post(BODY).headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    gw.set_config(primary_model="anthropic/claude-haiku-4-5", fallback_models=[])
    assert gw.post(BODY).headers["x-tollgate-model"] == "anthropic/claude-haiku-4-5"


def test_change_made_by_another_process_is_seen_through_the_redis_version(gw, redis_client):
    from gateway.services.snapshots import VERSION_KEY
    from llm.models import RoutingConfig

    assert gw.post(BODY).headers["x-tollgate-model"] == "openai/gpt-4o-mini"
    # Another process writes (no signal here) and bumps the shared version counter.
    RoutingConfig.objects.filter(pk=gw.config.pk).update(
        primary_model="google/gemini-2.5-flash", fallback_models=[]
    )
    assert gw.post(BODY).headers["x-tollgate-model"] == "openai/gpt-4o-mini"  # still cached
    redis_client.incr(VERSION_KEY)
    time.sleep(1.1)
    assert gw.post(BODY).headers["x-tollgate-model"] == "google/gemini-2.5-flash"
