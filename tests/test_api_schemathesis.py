"""A bounded schemathesis run over the whole management API, through the WSGI app, with a
tenant key that has read+manage: no 5xx, and every response conforms to the schema (status
code documented, content type, body). Deterministic (derandomized) so CI failures reproduce.

Bounds: MAX_EXAMPLES positive and NEGATIVE_EXAMPLES negative cases per operation (~40
operations); the run takes well under two minutes.
"""

from decimal import Decimal

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing.models import Budget, UsageEvent
from llm.models import RoutingConfig
from tenants.services import api_key_create, credential_set

MAX_EXAMPLES = 12
NEGATIVE_EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: a request must not close the test's database connection."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tenant(tenant, small_catalog):
    """A tenant with one of everything, so detail endpoints have something to find."""
    from django.utils import timezone

    config = RoutingConfig.objects.create(
        tenant=tenant, name="default", is_default=True, primary_model="openai/gpt-4o-mini"
    )
    Budget.objects.create(tenant=tenant, period="daily", limit_usd=Decimal("5"))
    credential_set(tenant=tenant, provider=small_catalog["openai"], api_key="sk-fuzz-000000001")
    UsageEvent.objects.create(
        tenant=tenant,
        request_id="fuzz-1",
        created_at=timezone.now(),
        model="openai/gpt-4o-mini",
        provider="openai",
        status="success",
        cost_usd=Decimal("0.001"),
        tags=["a"],
        config=config,
    )
    _key, secret = api_key_create(tenant=tenant, scopes=["read", "manage"], name="fuzz")
    return secret


def _run(operation, mode: GenerationMode, examples: int, headers: dict) -> None:
    strategy = operation.as_strategy(generation_mode=mode)

    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()


def test_schemathesis_bounded_run(fuzz_tenant, keep_test_connection):
    app = WSGIHandler()
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    headers = {"Authorization": f"Bearer {fuzz_tenant}"}
    failures = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in (
            (GenerationMode.POSITIVE, MAX_EXAMPLES),
            (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):
            try:
                _run(operation, mode, examples, headers)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # FailureGroup is a BaseExceptionGroup; collect all
                failures.append(
                    f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}"
                )
    assert operations >= 30
    assert not failures, "\n\n".join(failures)
