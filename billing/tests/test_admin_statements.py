"""Statement and credit note admin: read-only pages, operator finalize, downloads."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import CreditNote, Statement
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event
from tenants.models import AuditEntry


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


@pytest.fixture
def finalized(october):
    return statement_finalize(statement_id=october.pk, now=datetime(2026, 11, 20, tzinfo=UTC))


@pytest.fixture
def september(tenant, priced_catalog):
    """A finalized statement with two billed lines (input 1.50, output 0.60)."""
    at = datetime(2026, 9, 5, tzinfo=UTC)
    usage_event(tenant, at=at, input_tokens=10_000_000, output_tokens=1_000_000)
    draft = statement_ensure(tenant=tenant, month="2026-09")
    return statement_finalize(statement_id=draft.pk, now=datetime(2026, 10, 20, tzinfo=UTC))


def test_operator_credits_lines_in_the_admin(client, operator, september):
    add = reverse("admin:billing_creditnote_add")
    output = september.lines.get(token_class="output")
    other = september.lines.exclude(pk=output.pk).get(amount__gt=0)
    client.force_login(operator)
    shown = client.post(add, {"statement": september.pk, "_show_lines": "1"})
    assert shown.status_code == 200 and not shown.context["form"].errors
    assert [row[0].pk for row in shown.context["form"].line_rows] == list(
        september.lines.order_by("position").values_list("pk", flat=True)
    )
    assert f'name="line_{output.pk}_amount"'.encode() in shown.content
    picked = {
        f"line_{output.pk}": "on",
        f"line_{output.pk}_amount": "0.40",
        f"line_{other.pk}": "on",  # no amount: all that is left on it
    }
    response = client.post(add, {"statement": september.pk, "reason": "Wrong model", **picked})
    assert response.status_code == 302, response.context["form"].errors
    note = CreditNote.objects.get()
    credited = {line.statement_line_id: line.amount for line in note.lines.all()}
    assert credited == {output.pk: Decimal("0.40"), other.pk: other.amount}
    assert other.amount > 0 and note.total == Decimal("0.40") + other.amount
    entry = AuditEntry.objects.get(object_type="credit_note", object_id=str(note.pk))
    assert (entry.action, entry.actor, entry.via) == ("create", operator.username, "session")
    again = client.get(add, {"statement": september.pk})
    rows = {row[0].pk: row[3] for row in again.context["form"].line_rows}
    assert rows[output.pk] == output.amount - Decimal("0.40")


def test_a_line_credit_over_what_is_left_is_refused_on_its_field(client, operator, finalized):
    add = reverse("admin:billing_creditnote_add")
    output = finalized.lines.get(token_class="output")
    client.force_login(operator)
    field = f"line_{output.pk}_amount"
    too_much = output.amount + Decimal("0.01")
    response = client.post(
        add, {"statement": finalized.pk, "reason": "r", f"line_{output.pk}": "on", field: too_much}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == [field] and "left to credit" in errors[field][0]
    neither = client.post(add, {"statement": finalized.pk, "reason": "r"})
    assert list(neither.context["form"].errors) == ["amount"]
    assert not CreditNote.objects.exists()
