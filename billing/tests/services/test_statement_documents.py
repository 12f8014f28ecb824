"""A statement as JSON, CSV and PDF."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from billing.services.statement_documents import (
    statement_csv,
    statement_document,
    statement_pdf,
)
from billing.services.statements import statement_ensure, statement_finalize
from billing.tests.services.statement_support import usage_event


@pytest.fixture
def statement(tenant, priced_catalog):
    tenant.legal_name = "Acme Corporation GmbH"
    tenant.billing_city = "Berlin"
    tenant.save()
    for day in (3, 4, 4, 20):
        usage_event(tenant, at=datetime(2026, 11, day, 9, tzinfo=UTC), output_tokens=2_000_000)
    draft = statement_ensure(tenant=tenant, month="2026-11")
    return statement_finalize(statement_id=draft.pk, now=datetime(2026, 12, 20, tzinfo=UTC))


def test_json_document(statement):
    doc = statement_document(statement=statement)
    assert doc["number"] == statement.number and doc["draft"] is False
    assert doc["header"]["legal_name"] == "Acme Corporation GmbH"
    assert Decimal(doc["total"]) == sum(Decimal(line["amount"]) for line in doc["lines"])
    assert doc["checksum_sha256"] == statement.checksum_sha256
    spend = {d["day"]: Decimal(d["platform_usd"]) for d in doc["daily_spend"]}
    assert spend["2026-11-04"] == 2 * spend["2026-11-03"] > 0


def test_csv_lines(statement):
    doc = statement_document(statement=statement)
    rows = list(csv.DictReader(io.StringIO(statement_csv(document=doc).decode())))
    assert [row["position"] for row in rows] == [str(line["position"]) for line in doc["lines"]]
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal(doc["total"])


def test_pdf_has_lines_and_total(statement):
    doc = statement_document(statement=statement)
    pdf = statement_pdf(document=doc)
    assert pdf.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert statement.number in text
    assert f"Total USD {doc['total']}" in text
    assert "Acme Corporation GmbH" in text
    assert "output" in text


def test_an_open_statement_is_a_draft_preview(tenant, priced_catalog):
    usage_event(tenant, at=datetime(2026, 11, 3, tzinfo=UTC))
    doc = statement_document(statement=statement_ensure(tenant=tenant, month="2026-11"))
    assert doc["draft"] is True and doc["number"] is None and doc["lines"]
    assert b"DRAFT" in statement_csv(document=doc)
