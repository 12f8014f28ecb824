"""exports/: create a month's export, list versions, stream the CSV; tenant isolation."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.models import BillingExport, UsageEvent
from tests.support.api import assert_error

URL = "/api/v1/exports/"


@pytest.fixture
def october(tenant, other_tenant):
    for i, (who, cost) in enumerate(
        [(tenant, "0.0000001234"), (tenant, "1.5"), (other_tenant, "7")]
    ):
        UsageEvent.objects.create(
            tenant=who,
            request_id=f"e{i}",
            created_at=datetime(2026, 10, 10, 12, 0, tzinfo=UTC),
            model="openai/gpt-4o-mini",
            provider="openai",
            status="success",
            input_tokens=10,
            output_tokens=5,
            cost_usd=Decimal(cost),
        )


def _csv(response) -> list[dict]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def test_create_list_download(owner_client, tenant, october):
    response = owner_client.post(URL, {"month": "2026-10"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["month"] == "2026-10" and body["status"] == "ready" and body["version"] == 1
    assert response["Location"].endswith(f"/api/v1/exports/{body['id']}/")
    assert body["download_url"] == f"/api/v1/exports/{body['id']}/download/"
    assert BillingExport.objects.get(pk=body["id"]).tenant == tenant

    download = owner_client.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = _csv(download)
    assert {r["tenant"] for r in rows} == {"acme"}
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("1.5000001234")

    again = owner_client.post(URL, {"month": "2026-10"}, format="json").json()
    assert again["version"] == 2
    listed = owner_client.get(URL).json()["results"]
    assert [e["version"] for e in listed] == [2, 1]


def test_download_with_csv_accept_header(owner_client, october):
    export = owner_client.post(URL, {"month": "2026-10"}, format="json").json()
    response = owner_client.get(export["download_url"], HTTP_ACCEPT="text/csv")
    assert response.status_code == 200 and _csv(response)


@pytest.mark.parametrize("month", ["2026-13", "october", "", "2026-1", None])
def test_bad_month(owner_client, month):
    error = assert_error(
        owner_client.post(URL, {"month": month}, format="json"), 400, "invalid_request"
    )
    assert "month" in error["fields"]
    assert not BillingExport.objects.exists()


def test_not_ready_is_409(owner_client, tenant):
    export = BillingExport.objects.create(tenant=tenant, month="2026-09", version=1)
    assert_error(owner_client.get(f"{URL}{export.pk}/download/"), 409, "conflict")


def test_viewer_outsider_and_keys(
    owner_client, member_client, outsider_client, key_client, october
):
    export = owner_client.post(URL, {"month": "2026-10"}, format="json").json()
    assert member_client.get(export["download_url"]).status_code == 200
    assert_error(
        member_client.post(URL, {"month": "2026-10"}, format="json"), 403, "permission_denied"
    )
    assert outsider_client.get(URL).json()["results"] == []
    assert_error(outsider_client.get(f"{URL}{export['id']}/"), 404, "not_found")
    assert_error(outsider_client.get(export["download_url"]), 404, "not_found")
    assert key_client("read").get(export["download_url"]).status_code == 200
    assert_error(
        key_client("read").post(URL, {"month": "2026-10"}, format="json"), 403, "permission_denied"
    )


def test_operator_exports_every_tenant(operator_client, october):
    response = operator_client.post(URL, {"month": "2026-10"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["tenant"] is None
    rows = _csv(operator_client.get(response.json()["download_url"]))
    assert {r["tenant"] for r in rows} == {"acme", "globex"}
