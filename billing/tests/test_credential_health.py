"""A BYOK key's last success and last failure, recorded by usage ingestion from the attempts
the gateway logged (billing/services/credential_health.py): one UPDATE per key and batch,
never backwards, never another tenant's key."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.services import usage
from billing.services.credential_health import credential_outcomes
from billing.usage_record import UsageRecord
from llm.models import Provider
from tenants.services import credential_set

T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def _record(tenant, request_id, *, at, attempts, status="success") -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        tenant_id=tenant.pk,
        status=status,
        created_at=at,
        model="openai/gpt-4o-mini",
        provider="openai",
        key_source="byok",
        attempts=tuple(attempts),
    )


def _ok(credential):
    return {
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "status": "ok",
        "credential_id": credential.pk,
    }


def _failed(credential, kind):
    return {
        "model": "openai/gpt-4o-mini",
        "provider": "openai",
        "status": "error",
        "kind": kind,
        "credential_id": credential.pk,
    }


@pytest.fixture(autouse=True)
def _empty_buffer():
    usage.usage_buffer_discard()
    yield
    usage.usage_buffer_discard()


@pytest.fixture
def credential(tenant, edge_case_catalog):
    provider = Provider.objects.get(slug="openai")
    return credential_set(tenant=tenant, provider=provider, api_key="sk-health-test-1234")


def _ingest(records):
    for record in records:
        usage.usage_event_enqueue(record=record)
    usage.usage_buffer_flush()
    usage.usage_events_ingest()


@pytest.mark.django_db(transaction=True)
def test_ingestion_records_last_success_and_failure(tenant, credential):
    _ingest(
        [
            _record(tenant, "h1", at=T0, attempts=[_ok(credential)]),
            _record(
                tenant,
                "h2",
                at=T0 + timedelta(minutes=2),
                status="fallback_success",
                attempts=[_failed(credential, "rate_limit"), _ok(credential)],
            ),
            _record(
                tenant,
                "h3",
                at=T0 + timedelta(minutes=1),
                status="error",
                attempts=[_failed(credential, "auth")],
            ),
        ]
    )
    credential.refresh_from_db()
    assert credential.last_success_at == T0 + timedelta(minutes=2)
    assert credential.last_failure_at == T0 + timedelta(minutes=2)
    assert credential.last_failure_kind == "rate_limit"


@pytest.mark.django_db(transaction=True)
def test_an_older_batch_never_moves_the_times_back(tenant, credential):
    _ingest([_record(tenant, "n1", at=T0, status="error", attempts=[_failed(credential, "auth")])])
    _ingest(
        [
            _record(
                tenant,
                "n2",
                at=T0 - timedelta(hours=1),
                status="error",
                attempts=[_failed(credential, "timeout"), _ok(credential)],
            )
        ]
    )
    credential.refresh_from_db()
    assert credential.last_failure_at == T0 and credential.last_failure_kind == "auth"
    assert credential.last_success_at == T0 - timedelta(hours=1)


@pytest.mark.django_db(transaction=True)
def test_another_tenants_credential_id_is_ignored(tenant, other_tenant, credential):
    _ingest([_record(other_tenant, "x1", at=T0, attempts=[_ok(credential)])])
    credential.refresh_from_db()
    assert credential.last_success_at is None


@pytest.mark.django_db
def test_one_update_per_credential_per_batch(tenant, credential):
    records = [
        _record(
            tenant,
            f"b{i}",
            at=T0 + timedelta(seconds=i),
            attempts=[_failed(credential, "server_error"), _ok(credential)],
        )
        for i in range(50)
    ]
    outcomes = credential_outcomes(records)
    assert len(outcomes) == 1
    assert outcomes[0].success_at == T0 + timedelta(seconds=49)
    from tenants.services import credential_outcomes_record

    with CaptureQueriesContext(connection) as queries:
        credential_outcomes_record(outcomes=outcomes)
    updates = [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1 and len(queries.captured_queries) == 1
    credential.refresh_from_db()
    assert credential.last_failure_kind == "server_error"


def test_platform_attempts_carry_no_credential(tenant):
    record = _record(tenant, "p1", at=T0, attempts=[{"model": "m", "status": "ok"}])
    assert credential_outcomes([record]) == []
