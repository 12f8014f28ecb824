"""statements/ and credit-notes/: tenant reads, staff-only finalize and credit, isolation."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import CreditNote, Statement
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event
from tests.support.api import assert_error

URL = "/api/v1/statements/"
NOTES = "/api/v1/credit-notes/"


@pytest.fixture
def statements(tenant, other_tenant, priced_catalog):
    """Acme: October finalized, November still open (as far as its rows go); Globex: October."""
    for who in (tenant, other_tenant):
        usage_event(who, at=datetime(2026, 10, 5, tzinfo=UTC), output_tokens=5_000_000)  # 3.00
    usage_event(tenant, at=datetime(2026, 11, 5, tzinfo=UTC))
    after = datetime(2026, 11, 20, tzinfo=UTC)
    october = statement_finalize(
        statement_id=statement_ensure(tenant=tenant, month="2026-10").pk, now=after
    )
    theirs = statement_finalize(
        statement_id=statement_ensure(tenant=other_tenant, month="2026-10").pk, now=after
    )
    november = statement_ensure(tenant=tenant, month="2026-11")
    return {"october": october, "november": november, "theirs": theirs}


def test_owner_lists_and_filters(owner_client, statements):
    body = owner_client.get(URL).json()
    assert [s["month"] for s in body["results"]] == ["2026-11", "2026-10"]
    finalized = owner_client.get(URL, {"status": "finalized"}).json()["results"]
    assert [s["number"] for s in finalized] == [statements["october"].number]
    assert finalized[0]["total"] == "3.00"
    assert [s["month"] for s in owner_client.get(URL, {"month": "2026-11"}).json()["results"]] == [
        "2026-11"
    ]
    assert_error(owner_client.get(URL, {"month": "2026-13"}), 400, "invalid_request")
    assert_error(owner_client.get(URL, {"status": "paid"}), 400, "invalid_request")


def test_member_reads_the_document(member_client, statements):
    october = statements["october"]
    doc = member_client.get(f"{URL}{october.pk}/").json()
    assert doc["number"] == october.number and doc["checksum_sha256"] == october.checksum_sha256
    assert doc["total"] == "3.00" and Decimal(doc["total_full_precision"]) == Decimal("3.00015")
    draft = member_client.get(f"{URL}{statements['november'].pk}/").json()
    assert draft["draft"] is True and draft["number"] is None


@pytest.mark.parametrize("kind", ["json", "csv", "pdf"])
def test_downloads(owner_client, statements, kind):
    october = statements["october"]
    response = owner_client.get(f"{URL}{october.pk}/download/", {"format": kind})
    assert response.status_code == 200, response.content
    assert f'filename="{october.number}.{kind}"' in response["Content-Disposition"]
    if kind == "pdf":
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")
    elif kind == "csv":
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert sum(Decimal(r["amount"]) for r in rows) == Decimal("3.00")
    else:
        assert response.json()["number"] == october.number


def test_unknown_download_format_is_a_400(owner_client, statements):
    response = owner_client.get(f"{URL}{statements['october'].pk}/download/", {"format": "xml"})
    assert_error(response, 400, "invalid_request")


def test_outsider_and_their_keys_get_404(outsider_client, key_client, other_tenant, statements):
    october = statements["october"]
    for path in (f"{URL}{october.pk}/", f"{URL}{october.pk}/download/?format=pdf"):
        assert_error(outsider_client.get(path), 404, "not_found")
    listed = outsider_client.get(URL).json()["results"]
    assert [s["id"] for s in listed] == [statements["theirs"].pk]
    theirs = key_client("read", for_tenant=other_tenant)
    assert_error(theirs.get(f"{URL}{october.pk}/"), 404, "not_found")


def test_finalize_and_credit_are_staff_only(owner_client, member_client, key_client, statements):
    november, october = statements["november"], statements["october"]
    manage_key = key_client("read", "manage")
    for client in (owner_client, member_client, manage_key):
        response = client.post(f"{URL}{november.pk}/finalize/")
        assert response.status_code == 403, response.content
        response = client.post(
            NOTES, {"statement": october.pk, "reason": "r", "amount": "1.00"}, format="json"
        )
        assert response.status_code == 403, response.content
    assert Statement.objects.get(pk=november.pk).status == Statement.Status.OPEN
    assert not CreditNote.objects.exists()


def test_staff_finalize_is_idempotent_and_refused_early(operator_client, tenant, statements):
    october = statements["october"]
    again = operator_client.post(f"{URL}{october.pk}/finalize/")
    assert again.status_code == 200 and again.json()["number"] == october.number
    future = statement_ensure(tenant=tenant, month="2099-01")
    assert_error(operator_client.post(f"{URL}{future.pk}/finalize/"), 409, "conflict")
    november = operator_client.post(f"{URL}{statements['november'].pk}/finalize/")
    assert november.status_code == 200, november.content
    assert november.json()["status"] == "finalized"
    assert november.json()["number"].startswith("TG-2026-11-")


def test_staff_issues_a_credit_note_the_tenant_can_read(
    operator_client, owner_client, outsider_client, statements
):
    october = statements["october"]
    line = october.lines.get(token_class="output")
    response = operator_client.post(
        NOTES,
        {"statement": october.pk, "reason": "Goodwill", "lines": [{"line": line.pk}]},
        format="json",
    )
    assert response.status_code == 201, response.content
    note = response.json()
    assert note["total"] == "3.00" and note["statement_number"] == october.number
    assert note["lines"][0]["statement_line"] == line.pk
    assert [n["id"] for n in owner_client.get(NOTES).json()["results"]] == [note["id"]]
    assert owner_client.get(f"{URL}{october.pk}/").json()["credit_notes"][0]["number"]
    assert_error(outsider_client.get(f"{NOTES}{note['id']}/"), 404, "not_found")
    too_much = operator_client.post(
        NOTES, {"statement": october.pk, "reason": "x", "amount": "0.01"}, format="json"
    )
    assert_error(too_much, 409, "conflict")
    bad = operator_client.post(NOTES, {"statement": october.pk, "reason": "x"}, format="json")
    assert_error(bad, 400, "invalid_request")
    draft = operator_client.post(
        NOTES,
        {"statement": statements["november"].pk, "reason": "x", "amount": "1"},
        format="json",
    )
    assert_error(draft, 409, "conflict")


def test_a_credit_note_is_in_the_audit_log(operator_client, owner_client, statements):
    october = statements["october"]
    body = {"statement": october.pk, "reason": "Goodwill", "amount": "1.00"}
    note = operator_client.post(NOTES, body, format="json").json()
    entries = owner_client.get("/api/v1/audit/").json()["results"]
    (entry,) = [e for e in entries if e["object_type"] == "credit_note"]
    assert (entry["action"], entry["actor"], entry["object_id"]) == (
        "create",
        "op",
        str(note["id"]),
    )
