"""Two finalizations of one statement at the same time: one statement, one number, one set of
lines. Needs a database server with row locks (DATABASE_URL on PostgreSQL), as the other
multi-connection tests."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection, connections

from billing.models import DocumentSequence, Statement, StatementLine
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event

AFTER = datetime(2026, 12, 20, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_finalizations_issue_one_statement(tenant, other_tenant, priced_catalog):
    if connection.vendor != "postgresql":
        pytest.skip("row locks across connections need PostgreSQL (DATABASE_URL)")
    for who in (tenant, other_tenant):
        usage_event(who, at=datetime(2026, 11, 10, tzinfo=UTC))
    statement = statement_ensure(tenant=tenant, month="2026-11")
    other = statement_ensure(tenant=other_tenant, month="2026-11")
    barrier = threading.Barrier(3)
    results, errors = [], []

    def finalize(statement_id):
        try:
            barrier.wait()
            results.append(statement_finalize(statement_id=statement_id, now=AFTER).number)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=finalize, args=(pk,))
        for pk in (statement.pk, statement.pk, other.pk)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    mine = Statement.objects.get(pk=statement.pk)
    assert results.count(mine.number) == 2
    assert StatementLine.objects.filter(statement=mine).count() == len(
        {line.position for line in mine.lines.all()}
    )
    assert sorted(Statement.objects.exclude(sequence=None).values_list("sequence", flat=True)) == [
        1,
        2,
    ]
    assert DocumentSequence.objects.get(name="statement").last == 2
