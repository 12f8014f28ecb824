"""The console's API keys, BYOK keys and members pages in a real browser (headless Chromium)
against the live server: a BYOK key that never comes back on any page, an API key secret shown
once, a role changed, an export regenerated, a viewer who cannot save, another tenant's admin
who gets 404s. Every page visited is written to artifacts/screenshots/."""

import re

import pytest

from console.tests.conftest import login, screenshot
from tenants.models import AuditEntry, Membership, ProviderCredential, TenantApiKey
from tenants.services import api_key_create, credential_set

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BYOK_SECRET = "sk-console-browser-secret-qrst-2468"


def _pages(slug: str) -> list[str]:
    return [
        f"/console/t/{slug}/",
        f"/console/t/{slug}/usage/",
        f"/console/t/{slug}/budgets/",
        f"/console/t/{slug}/configs/",
        f"/console/t/{slug}/configs/new/",
        f"/console/t/{slug}/exports/",
        f"/console/t/{slug}/audit/",
        f"/console/t/{slug}/keys/",
        f"/console/t/{slug}/credentials/",
        f"/console/t/{slug}/members/",
    ]


def test_byok_key_added_in_the_console_never_comes_back(page, tenant, owner, edge_case_catalog):
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/credentials/")
    assert page.get_attribute("#tg-credential-form input[name=api_key]", "type") == "password"
    page.select_option("#tg-credential-form select[name=provider]", "openai")
    page.fill("#tg-credential-form input[name=api_key]", BYOK_SECRET)
    page.fill("#tg-credential-form input[name=base_url]", "ftp://example.com/")
    page.click("#tg-credential-save")
    # Refused (the base URL): the error names the field, the key field comes back empty.
    assert "base_url" in page.inner_text("#tg-form-errors")
    assert page.input_value("#tg-credential-form input[name=api_key]") == ""
    assert BYOK_SECRET not in page.content()
    page.fill("#tg-credential-form input[name=api_key]", BYOK_SECRET)
    page.fill("#tg-credential-form input[name=base_url]", "")
    page.click("#tg-credential-save")
    page.wait_for_selector("#tg-credentials tr[data-provider=openai]")
    credential = ProviderCredential.objects.get(tenant=tenant)
    assert credential.last4 == "2468"
    row = page.inner_text("#tg-credentials tr[data-provider=openai]")
    assert "…2468" in row and "active" in row
    screenshot(page, "console-credentials")
    for url in [*_pages(tenant.slug), "/api/v1/credentials/", "/api/v1/audit/"]:
        response = page.goto(url)
        assert response.status == 200, url
        html = page.content()
        assert BYOK_SECRET not in html and BYOK_SECRET[:-4] not in html, url
    page.goto(f"/console/t/{tenant.slug}/audit/")
    row = page.locator("#tg-audit tbody tr[data-object-type=credential]").first
    assert "alice" in row.inner_text() and "create" in row.inner_text()
    assert "***" in row.inner_text()


def test_api_key_secret_is_shown_once(page, tenant, owner):
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/keys/")
    page.fill("#tg-key-form input[name=name]", "browser-app")
    page.check("#tg-key-form input[name=scopes][value=read]")
    page.click("#tg-key-create")
    page.wait_for_selector("#tg-secret")
    secret = page.inner_text("#tg-secret")
    assert re.fullmatch(r"tg_[A-Za-z0-9_-]{40,}", secret)
    key = TenantApiKey.objects.get(tenant=tenant, name="browser-app")
    assert secret.startswith(key.prefix) and key.scopes == ["inference", "read"]
    screenshot(page, "console-keys-created")
    page.reload()
    assert page.locator("#tg-secret").count() == 0
    assert secret not in page.content()
    assert TenantApiKey.objects.filter(tenant=tenant).count() == 1  # the reload made none
    row = page.locator(f"#tg-keys tr[data-key='{key.pk}']")
    assert key.prefix in row.inner_text()
    row.locator("input[name=allowed_models]").fill("openai/gpt-4o-mini")
    row.locator("[data-action=access]").click()
    page.wait_for_load_state()
    key.refresh_from_db()
    assert key.allowed_models == ["openai/gpt-4o-mini"]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#tg-keys tr[data-key='{key.pk}'] [data-action=revoke]").click()
    page.wait_for_function(
        f"document.querySelector(\"#tg-keys tr[data-key='{key.pk}'] [data-field=state]\")"
        ".textContent.includes('revoked')"
    )
    key.refresh_from_db()
    assert key.revoked_at is not None
    screenshot(page, "console-keys")
    for url in _pages(tenant.slug):
        page.goto(url)
        assert secret not in page.content(), url


def test_owner_changes_a_members_role(page, tenant, owner, member):
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/members/")
    row = page.locator("#tg-members tr[data-member=bob]")
    row.locator("select[name=role]").select_option("admin")
    row.locator("[data-action=role]").click()
    page.wait_for_load_state()
    assert Membership.objects.get(user=member).role == Membership.Role.ADMIN
    selected = page.locator("#tg-members tr[data-member=bob] select[name=role]").input_value()
    assert selected == "admin"
    screenshot(page, "console-members")
    page.goto(f"/console/t/{tenant.slug}/audit/?object_type=membership")
    entry = page.locator("#tg-audit tbody tr[data-action=update]").first
    assert "viewer" in entry.inner_text() and "admin" in entry.inner_text()


def test_viewer_cannot_save_on_the_settings_pages(page, tenant, owner, member, edge_case_catalog):
    key, _ = api_key_create(tenant=tenant, scopes=["inference"], name="app")
    login(page, "bob")
    for path, form in (
        ("keys", "#tg-key-form"),
        ("credentials", "#tg-credential-form"),
        ("members", "#tg-member-form"),
    ):
        page.goto(f"/console/t/{tenant.slug}/{path}/")
        assert page.locator(form).count() == 0, path
        assert page.locator(".tg-table button, .tg-table form").count() == 0, path
    screenshot(page, "console-members-viewer")
    # Even a hand-made POST with the session's CSRF token is refused.
    statuses = page.evaluate(
        """async (urls) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const out = [];
            for (const url of urls) {
                const body = new URLSearchParams({csrfmiddlewaretoken: token, role: 'owner',
                    login: 'bob', name: 'x', scopes: 'read', provider: 'openai',
                    api_key: 'sk-viewer-try-123456'});
                const r = await fetch(url, {method: 'POST', body, credentials: 'same-origin'});
                out.push(r.status);
            }
            return out;
        }""",
        [
            f"/console/t/{tenant.slug}/keys/",
            f"/console/t/{tenant.slug}/keys/{key.pk}/revoke/",
            f"/console/t/{tenant.slug}/credentials/",
            f"/console/t/{tenant.slug}/members/{Membership.objects.get(user=member).pk}/role/",
        ],
    )
    assert statuses == [403, 403, 403, 403]
    assert Membership.objects.get(user=member).role == Membership.Role.VIEWER
    assert not ProviderCredential.objects.exists()


def test_other_tenants_admin_gets_404_on_the_settings_pages(
    page, tenant, owner, outsider, edge_case_catalog
):
    from llm.models import Provider

    key, _ = api_key_create(tenant=tenant, scopes=["inference"], name="app")
    credential = credential_set(
        tenant=tenant, provider=Provider.objects.get(slug="openai"), api_key=BYOK_SECRET
    )
    membership = Membership.objects.get(user=owner)
    login(page, "mallory")
    slug = tenant.slug
    for url in (
        f"/console/t/{slug}/keys/",
        f"/console/t/{slug}/credentials/",
        f"/console/t/{slug}/members/",
    ):
        assert page.goto(url).status == 404, url
    page.goto("/console/go/keys/")  # mallory's own tenant: her page, not acme's
    assert page.url.endswith(f"/console/t/{outsider.memberships.get().tenant.slug}/keys/")
    statuses = page.evaluate(
        """async (urls) => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const out = [];
            for (const url of urls) {
                const body = new URLSearchParams({csrfmiddlewaretoken: token, role: 'viewer', active: '0'});
                const r = await fetch(url, {method: 'POST', body, credentials: 'same-origin'});
                out.push(r.status);
            }
            return out;
        }""",
        [
            f"/console/t/{slug}/keys/{key.pk}/revoke/",
            f"/console/t/{slug}/credentials/{credential.pk}/active/",
            f"/console/t/{slug}/members/{membership.pk}/remove/",
        ],
    )
    assert statuses == [404, 404, 404]
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert not AuditEntry.objects.filter(tenant_ref=tenant.pk, action="delete").exists()


def test_export_regenerate_adds_a_version(page, tenant, owner, history):
    from billing.models import BillingExport
    from billing.services.exports import export_create
    from console.tests.support import local_today

    month = local_today(tenant).strftime("%Y-%m")
    first = export_create(tenant=tenant, month=month)
    login(page, "alice")
    page.goto(f"/console/t/{tenant.slug}/exports/")
    page.click(f"#tg-exports tr[data-export='{first.pk}'] button[type=submit]")
    page.wait_for_selector("#tg-exports tr[data-export] >> nth=1")
    versions = sorted(
        BillingExport.objects.filter(tenant=tenant, month=month).values_list("version", flat=True)
    )
    assert versions == [first.version, first.version + 1]
    newest = BillingExport.objects.get(tenant=tenant, month=month, version=first.version + 1)
    row = page.locator(f"#tg-exports tr[data-export='{newest.pk}']")
    assert row.locator(".tg-export-download").count() == 1
    with page.expect_download() as download:
        row.locator(".tg-export-download").click()
    assert download.value.suggested_filename.endswith(f"-v{newest.version}.csv")
    screenshot(page, "console-exports-regenerated")
