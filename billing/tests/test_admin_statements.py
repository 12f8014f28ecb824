"""Statement and credit note admin: read-only pages, operator finalize, downloads."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import CreditNote, Statement
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event


@pytest.fixture
def october(tenant, priced_catalog):
    usage_event(tenant, at=datetime(2026, 10, 5, tzinfo=UTC), output_tokens=1_000_000)
    return statement_ensure(tenant=tenant, month="2026-10")


def test_operator_finalizes_from_the_list(client, operator, october):
    client.force_login(operator)
    changelist = reverse("admin:billing_statement_changelist")
    response = client.post(
        changelist, {"action": "finalize", "_selected_action": [october.pk], "post": "yes"}
    )
    assert response.status_code == 302
    october.refresh_from_db()
    assert october.status == Statement.Status.FINALIZED and october.number


def test_owner_reads_but_cannot_finalize(client, owner, october):
    client.force_login(owner)
    changelist = reverse("admin:billing_statement_changelist")
    assert client.get(changelist).status_code == 200
    client.post(changelist, {"action": "finalize", "_selected_action": [october.pk]})
    october.refresh_from_db()
    assert october.status == Statement.Status.OPEN
    page = client.get(reverse("admin:billing_statement_change", args=[october.pk]))
    assert page.status_code == 200
    assert reverse("admin:billing_statement_download", args=[october.pk, "pdf"]) in (
        page.content.decode()
    )


def test_download_from_the_admin(client, owner, october):
    statement = statement_finalize(statement_id=october.pk, now=datetime(2026, 11, 20, tzinfo=UTC))
    client.force_login(owner)
    pdf = client.get(reverse("admin:billing_statement_download", args=[statement.pk, "pdf"]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    csv = client.get(reverse("admin:billing_statement_download", args=[statement.pk, "csv"]))
    assert statement.number.encode() in csv.content
    bad = client.get(reverse("admin:billing_statement_download", args=[statement.pk, "xls"]))
    assert bad.status_code == 404


def test_operator_issues_a_credit_note_owner_cannot(client, operator, owner, october):
    statement = statement_finalize(statement_id=october.pk, now=datetime(2026, 11, 20, tzinfo=UTC))
    add = reverse("admin:billing_creditnote_add")
    client.force_login(owner)
    assert client.get(add).status_code == 403
    client.force_login(operator)
    assert client.get(add).status_code == 200
    too_much = client.post(add, {"statement": statement.pk, "reason": "r", "amount": "999"})
    assert too_much.status_code == 200 and b"left to credit" in too_much.content
    response = client.post(add, {"statement": statement.pk, "reason": "Outage", "amount": "0.50"})
    assert response.status_code == 302
    (note,) = CreditNote.objects.all()
    assert (note.total, note.reason, note.tenant_id) == (
        Decimal("0.50"),
        "Outage",
        october.tenant_id,
    )
