"""Tenant isolation, system-wide: tenant A's credentials never reach tenant B's objects.

Every URL under /api/v1/ and /admin/ is exercised with A's credentials (a session of A's owner,
and for the API also an API key of A with every scope) against B's object ids: object URLs and
their actions answer 404 (never 403, never B's data), lists show only A's rows, and nothing
creates a key, a member or a credential in B or raises a member's role.

The tables below map each URL name to how it is exercised. `test_every_url_has_an_isolation_case`
walks the URL configuration and fails when a URL has no entry: a new endpoint or admin page
needs its isolation case before CI passes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import (
    AlertDelivery,
    BillingExport,
    Budget,
    BudgetAlert,
    CreditNote,
    DailyRollup,
    DailyTagRollup,
    DailyTagSetRollup,
    DailyUserRollup,
    MonthlyRollup,
    UsageEvent,
)
from billing.services.exports import export_create
from billing.services.statements import statement_ensure, statement_finalize
from llm.models import RoutingConfig
from tenants.models import AuditEntry, Membership, ProviderCredential, Tenant, TenantApiKey
from tenants.services import api_key_create, credential_set, membership_set
from tests.support.catalog import config_create

pytestmark = pytest.mark.django_db

# --- the world: each tenant with one of everything it owns ------------------------------------


@dataclass
class World:
    a: dict[str, Model]
    b: dict[str, Model]
    tenant_a: Tenant
    tenant_b: Tenant
    key_a: str  # secret of A's key with every scope


def _objects_of(tenant: Tenant, provider, model: str) -> dict[str, Model]:
    slug = tenant.slug
    config = config_create(tenant, validate=False, name=f"cfg-{slug}", primary_model=model)
    key, _secret = api_key_create(tenant=tenant, scopes=["inference"], name=f"key-{slug}")
    budget = Budget.objects.create(
        tenant=tenant, period="monthly", limit_usd=Decimal(10), alert_thresholds=[50]
    )
    today = timezone.localdate()
    month = today.strftime("%Y-%m")
    event = UsageEvent.objects.create(
        request_id=f"req-{slug}",
        tenant=tenant,
        api_key=key,
        config=config,
        requested_model="auto",
        model=model,
        provider=model.split("/")[0],
        status="success",
        input_tokens=10,
        output_tokens=5,
        cost_usd=Decimal("0.01"),
        route_reason=f"reason-{slug}",
        tags=[f"tag-{slug}"],
        created_at=timezone.now() - timedelta(minutes=5),
    )
    totals = {"model": model, "provider": model.split("/")[0], "key_source": "platform"}
    alert = BudgetAlert.objects.create(
        budget=budget, tenant=tenant, period_key=month, threshold=50, used_pct=Decimal(51)
    )
    return {
        "tenant": tenant,
        "config": config,
        "credential": credential_set(
            tenant=tenant, provider=provider, api_key=f"sk-{slug}-byok-secret-{tenant.pk:04d}"
        ),
        "key": key,
        "budget": budget,
        "alert": alert,
        "delivery": AlertDelivery.objects.create(
            alert=alert,
            tenant=tenant,
            attempt=1,
            url_host=f"hooks.{slug}.example",
            outcome="delivered",
        ),
        "event": event,
        "daily": DailyRollup.objects.create(tenant=tenant, day=today, **totals),
        "monthly": MonthlyRollup.objects.create(tenant=tenant, month=month, **totals),
        "tag": DailyTagRollup.objects.create(
            tenant=tenant, day=today, tag=f"tag-{slug}", status="success", model=model
        ),
        "tagset": DailyTagSetRollup.objects.create(
            tenant=tenant, day=today, tags=[f"tag-{slug}"], status="success", model=model
        ),
        "user_rollup": DailyUserRollup.objects.create(
            tenant=tenant, day=today, end_user=f"user-{slug}", status="success", model=model
        ),
        "export": export_create(tenant=tenant, month=month),
        **_statement_of(tenant),
        "audit": AuditEntry.objects.filter(tenant_ref=tenant.pk).order_by("id").first(),
    }


def _statement_of(tenant: Tenant) -> dict[str, Model]:
    """A finalized statement (of a long-gone month) and a credit note on it."""
    statement = statement_finalize(statement_id=statement_ensure(tenant=tenant, month="2020-01").pk)
    note = CreditNote.objects.create(
        tenant=tenant,
        statement=statement,
        number=f"CN-{tenant.slug}",
        sequence=statement.sequence,
        reason=f"reason-{tenant.slug}",
        total=Decimal("0.01"),
        issued_at=timezone.now(),
    )
    return {"statement": statement, "credit_note": note}


@pytest.fixture
def world(tenant, other_tenant, owner, member, outsider, small_catalog) -> World:
    a = _objects_of(tenant, small_catalog["openai"], "openai/gpt-4o-mini")
    b = _objects_of(other_tenant, small_catalog["openai"], "anthropic/claude-haiku-4-5")
    a["membership"] = Membership.objects.get(tenant=tenant, user=owner)
    b["membership"] = Membership.objects.get(tenant=other_tenant, user=outsider)
    _key, secret = api_key_create(tenant=tenant, scopes=["inference", "read", "manage"])
    return World(a=a, b=b, tenant_a=tenant, tenant_b=other_tenant, key_a=secret)


def _snapshot(obj: Model) -> dict:
    """A row's stored values, to show that nothing changed it."""
    return type(obj).objects.filter(pk=obj.pk).values().first()


# --- the management API ------------------------------------------------------------------------


@pytest.fixture(params=["session", "api_key"])
def api_a(request, world, owner) -> APIClient:
    """A's credentials: the owner's session, or an API key of A with every scope."""
    client = APIClient()
    if request.param == "session":
        client.force_login(owner)
    else:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.key_a}")
    return client


def _ids(response) -> set:
    assert response.status_code == 200, response.content
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return {row["id"] for row in rows}


def _assert_404(response) -> None:
    assert response.status_code == 404, (response.status_code, response.content)
    assert response.json()["error"]["code"] == "not_found"


def _api_list(path: str, kind: str) -> Callable[[APIClient, World], None]:
    """GET lists A's rows and none of B's."""

    def check(client: APIClient, world: World) -> None:
        ids = _ids(client.get(f"/api/v1/{path}/"))
        assert world.a[kind].pk in ids
        assert world.b[kind].pk not in ids

    return check


def _api_detail(path: str, kind: str, body: dict) -> Callable[[APIClient, World], None]:
    """B's object: GET, PUT, PATCH and DELETE are 404 and leave it as it was."""

    def check(client: APIClient, world: World) -> None:
        theirs = world.b[kind]
        before = _snapshot(theirs)
        url, own = f"/api/v1/{path}/{theirs.pk}/", f"/api/v1/{path}/{world.a[kind].pk}/"
        _assert_404(client.get(url))
        for method in ("put", "patch", "delete"):
            response = getattr(client, method)(url, body, format="json")
            if response.status_code == 405:  # not offered at all: the same for A's own object
                assert getattr(client, method)(own, body, format="json").status_code == 405
            else:
                _assert_404(response)
        assert _snapshot(theirs) == before
        assert client.get(own).status_code == 200

    return check


def _api_action(path: str, kind: str, method: str) -> Callable[[APIClient, World], None]:
    """B's object through a custom action: 404, unchanged."""

    def check(client: APIClient, world: World) -> None:
        theirs = world.b[kind]
        before = _snapshot(theirs)
        response = getattr(client, method)(
            f"/api/v1/{path.format(pk=theirs.pk)}", HTTP_ACCEPT="application/json, text/csv"
        )
        _assert_404(response)
        assert _snapshot(theirs) == before
        own = getattr(client, method)(
            f"/api/v1/{path.format(pk=world.a[kind].pk)}",
            HTTP_ACCEPT="application/json, text/csv",
        )
        assert own.status_code == 200

    return check


def _create_lands_in_a(path: str, body: dict, model: type[Model]) -> Callable:
    """POST naming B (in the body, and in the tenant header) creates in A or nowhere."""

    def check(client: APIClient, world: World) -> None:
        count_b = model.objects.filter(tenant=world.tenant_b).count()
        hostile = {**body, "tenant": world.tenant_b.slug, "tenant_id": world.tenant_b.pk}
        response = client.post(
            f"/api/v1/{path}/", hostile, format="json", HTTP_X_TOLLGATE_TENANT=world.tenant_b.slug
        )
        assert response.status_code in (200, 201, 404), response.content
        assert model.objects.filter(tenant=world.tenant_b).count() == count_b
        if response.status_code != 404:  # the key ignores the header; A's owner is not B's
            created = model.objects.get(pk=response.json()["id"])
            assert created.tenant_id == world.tenant_a.pk

    return check


def _both(*checks: Callable) -> Callable[[APIClient, World], None]:
    def check(client: APIClient, world: World) -> None:
        for each in checks:
            each(client, world)

    return check


def _configs_list(client: APIClient, world: World) -> None:
    _api_list("configs", "config")(client, world)
    body = {"name": "mine", "primary_model": "openai/gpt-4o-mini"}
    _create_lands_in_a("configs", body, RoutingConfig)(client, world)


def _keys_list(client: APIClient, world: World) -> None:
    _api_list("keys", "key")(client, world)
    _create_lands_in_a("keys", {"scopes": ["inference"]}, TenantApiKey)(client, world)


def _credentials_list(client: APIClient, world: World) -> None:
    _api_list("credentials", "credential")(client, world)
    # B has an OpenAI key: "rotating" it from A must make A's own, not touch B's.
    body = {"provider": "anthropic", "api_key": "sk-ant-from-a-00000000"}
    _create_lands_in_a("credentials", body, ProviderCredential)(client, world)
    theirs = world.b["credential"]
    before = _snapshot(theirs)
    client.post(
        "/api/v1/credentials/",
        {"provider": "openai", "api_key": "sk-a-rotates-b-000000"},
        format="json",
    )
    assert _snapshot(theirs) == before


def _budgets_list(client: APIClient, world: World) -> None:
    _api_list("budgets", "budget")(client, world)
    body = {"scope": "tenant", "period": "daily", "limit_usd": "1.00"}
    _create_lands_in_a("budgets", body, Budget)(client, world)
    for ref in ({"scope": "config", "config": world.b["config"].pk},
                {"scope": "config", "config": world.b["config"].name},
                {"scope": "key", "api_key": world.b["key"].pk}):  # fmt: skip
        response = client.post(
            "/api/v1/budgets/", {"period": "daily", "limit_usd": "1.00", **ref}, format="json"
        )
        assert response.status_code == 400, response.content
    mine = world.a["budget"]
    response = client.patch(
        f"/api/v1/budgets/{mine.pk}/",
        {"scope": "config", "config": world.b["config"].pk},
        format="json",
    )
    assert response.status_code == 400
    assert Budget.objects.get(pk=mine.pk).config_id is None


def _exports_list(client: APIClient, world: World) -> None:
    _api_list("exports", "export")(client, world)
    body = {"month": timezone.localdate().strftime("%Y-%m")}
    _create_lands_in_a("exports", body, BillingExport)(client, world)


def _statement_finalize(client: APIClient, world: World) -> None:
    """B's statement: 404; A's own: 403 (staff only), and neither changes."""
    theirs, mine = world.b["statement"], world.a["statement"]
    before = _snapshot(theirs)
    _assert_404(client.post(f"/api/v1/statements/{theirs.pk}/finalize/"))
    assert client.post(f"/api/v1/statements/{mine.pk}/finalize/").status_code == 403
    assert _snapshot(theirs) == before


def _credit_notes_list(client: APIClient, world: World) -> None:
    _api_list("credit-notes", "credit_note")(client, world)
    count = CreditNote.objects.count()
    for statement in (world.b["statement"], world.a["statement"]):
        body = {"statement": statement.pk, "reason": "r", "amount": "0.01"}
        response = client.post("/api/v1/credit-notes/", body, format="json")
        assert response.status_code == 403, response.content  # staff only
    assert CreditNote.objects.count() == count


def _usage(client: APIClient, world: World) -> None:
    for group_by in ("model", "config", "key", "tag", "day"):
        response = client.get("/api/v1/usage/", {"group_by": group_by})
        assert response.status_code == 200, response.content
        assert response.json()["totals"]["requests"] == 1
        text = response.content.decode()
        assert "globex" not in text and "claude-haiku" not in text
    for name, value in (("config", world.b["config"].pk), ("key", world.b["key"].pk)):
        response = client.get("/api/v1/usage/", {"group_by": "model", name: value})
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert response.json()["totals"]["requests"] == 0


def _usage_events(client: APIClient, world: World) -> None:
    response = client.get("/api/v1/usage/events/")
    assert response.status_code == 200
    ids = [row["request_id"] for row in response.json()["results"]]
    assert ids == ["req-acme"]
    for name, value in (("config", world.b["config"].pk), ("key", world.b["key"].pk)):
        response = client.get("/api/v1/usage/events/", {name: value})
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert response.json()["results"] == []


def _route_preview(client: APIClient, world: World) -> None:
    """B's config name means nothing to A: never B's routing."""
    body = {"model": world.b["config"].name, "messages": [{"role": "user", "content": "hi"}]}
    response = client.post("/api/v1/route/preview/", body, format="json")
    assert response.status_code == 400, response.content
    assert "claude-haiku" not in response.content.decode()
    own = {**body, "model": world.a["config"].name}
    assert client.post("/api/v1/route/preview/", own, format="json").status_code == 200


def _provider_health(client: APIClient, world: World) -> None:
    response = client.get("/api/v1/providers/health/")
    assert response.status_code == 200, response.content
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    listed = {c["id"] for row in rows for c in row["credentials"]}
    assert listed == {world.a["credential"].pk}
    assert world.b["credential"].last4 not in response.content.decode()


def _audit_list(client: APIClient, world: World) -> None:
    ids = _ids(client.get("/api/v1/audit/"))
    assert world.a["audit"].pk in ids
    assert not ids & set(
        AuditEntry.objects.filter(tenant_ref=world.tenant_b.pk).values_list("pk", flat=True)
    )


def _audit_detail(client: APIClient, world: World) -> None:
    _assert_404(client.get(f"/api/v1/audit/{world.b['audit'].pk}/"))
    assert client.get(f"/api/v1/audit/{world.a['audit'].pk}/").status_code == 200


def _tenant_access(client: APIClient, world: World) -> None:
    """A tenant's plan is platform staff's: B's and A's own are 404, and A cannot widen its
    own plan (or B's)."""
    body = {"allowed_providers": [], "allowed_models": [], "local_providers": ["anything"]}
    for tenant in (world.tenant_b, world.tenant_a):
        before = _snapshot(tenant)
        url = f"/api/v1/tenants/{tenant.slug}/access/"
        _assert_404(client.get(url))
        _assert_404(client.put(url, body, format="json"))
        assert _snapshot(tenant) == before


def _webhook_secret_rotate(client: APIClient, world: World) -> None:
    """Rotates the caller's own signing secret only, whatever tenant the body names."""
    before_b = _snapshot(world.tenant_b)
    body = {"tenant": world.tenant_b.slug, "tenant_id": world.tenant_b.pk}
    response = client.post("/api/v1/tenant/webhook-secret/rotate/", body, format="json")
    assert response.status_code == 201, response.content
    assert _snapshot(world.tenant_b) == before_b
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.alert_webhook_secret
    assert response.json()["secret"] not in world.tenant_a.alert_webhook_secret


def _no_members_endpoint(client: APIClient, world: World) -> None:
    """There is no members API: memberships (and roles) change only in the admin."""
    for path in ("members", "memberships"):
        _assert_404(client.get(f"/api/v1/{path}/"))
        body = {"user": "alice", "role": "owner", "tenant": world.tenant_b.slug}
        _assert_404(client.post(f"/api/v1/{path}/", body, format="json"))


def _shared(reason: str) -> Callable[[APIClient, World], None]:
    """Not tenant-owned (the catalog, the schema): the same for every tenant."""

    def check(client: APIClient, world: World) -> None:
        assert reason

    return check


API_CASES: dict[str, Callable[[APIClient, World], None]] = {
    "config-list": _configs_list,
    "config-detail": _api_detail("configs", "config", {"name": "x", "primary_model": "a/b"}),
    "apikey-list": _keys_list,
    "apikey-detail": _api_detail("keys", "key", {"name": "x"}),
    "apikey-revoke": _api_action("keys/{pk}/revoke/", "key", "post"),
    "credential-list": _credentials_list,
    "credential-detail": _api_detail("credentials", "credential", {"api_key": "sk-xxxxxxxxxx"}),
    "budget-list": _budgets_list,
    "budget-detail": _api_detail("budgets", "budget", {"limit_usd": "99.00"}),
    "budget-alerts": _api_action("budgets/{pk}/alerts/", "budget", "get"),
    "export-list": _exports_list,
    "export-detail": _api_detail("exports", "export", {"month": "2020-01"}),
    "export-download": _api_action("exports/{pk}/download/", "export", "get"),
    "statement-list": _api_list("statements", "statement"),
    "statement-detail": _api_detail("statements", "statement", {"status": "open"}),
    "statement-download": _api_action("statements/{pk}/download/?format=pdf", "statement", "get"),
    "statement-finalize": _statement_finalize,
    "credit-note-list": _credit_notes_list,
    "credit-note-detail": _api_detail("credit-notes", "credit_note", {"reason": "x"}),
    "usage": _usage,
    "usage-events": _usage_events,
    "route-preview": _route_preview,
    "provider-health": _provider_health,
    "audit-list": _audit_list,
    "audit-detail": _audit_detail,
    "tenant-access": _tenant_access,
    "webhook-secret-rotate": _webhook_secret_rotate,
    "<unnamed> api/v1/^[\\s\\S]*$": _no_members_endpoint,
    "provider-list": _shared("the provider catalog, read by every tenant"),
    "provider-detail": _shared("a catalog provider"),
    "llmmodel-list": _shared("the model catalog, read by every tenant"),
    "llmmodel-detail": _shared("a catalog model"),
}


@pytest.mark.parametrize("name", sorted(API_CASES))
def test_api_url_is_isolated(name, api_a, world):
    API_CASES[name](api_a, world)


# --- the URL walk --------------------------------------------------------------------------------


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern, route, inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield route, name or f"<unnamed> {route}"


def _url_names(prefix: str) -> set[str]:
    return {name for route, name in _walk(get_resolver()) if route.startswith(prefix)}


def test_every_api_url_has_an_isolation_case():
    assert _url_names("api/v1/") == set(API_CASES)


# --- the admin -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminModel:
    """How a registered model admin is exercised: `kind` names B's object in the world (None:
    the shared catalog, the same for every tenant); `add` is a valid add form for A, sent with
    B as the tenant (None: tenant managers cannot add these)."""

    kind: str | None
    add: Callable[[World], dict] | None = None


def _config_form(world: World) -> dict:
    return {
        "tenant": world.tenant_b.pk,
        "name": "sneaky-config",
        "primary_model": "openai/gpt-4o-mini",
        "fallback_models": "[]",
        "params": "{}",
        "rules": "[]",
        "cache_ttl_seconds": "0",
    }


def _key_form(world: World) -> dict:
    return {"tenant": world.tenant_b.pk, "name": "sneaky-key", "scopes": ["inference"]}


def _credential_form(world: World) -> dict:
    provider = world.b["credential"].provider.__class__.objects.get(slug="anthropic")
    return {
        "tenant": world.tenant_b.pk,
        "provider": provider.pk,
        "api_key": "sk-ant-sneaky-0000000",
        "base_url": "",
        "is_active": "on",
    }


def _member_form(world: World) -> dict:
    return {
        "tenant": world.tenant_b.pk,
        "username": "sneaky-member",
        "password": "a-long-password-4242",
        "role": "viewer",
    }


def _budget_form(world: World) -> dict:
    return {
        "tenant": world.tenant_b.pk,
        "scope": "tenant",
        "period": "daily",
        "limit_usd": "5",
        "mode": "strict",
        "alert_thresholds": "[80]",
        "is_active": "on",
    }


ADMIN_MODELS: dict[str, AdminModel] = {
    "auth.user": AdminModel("user"),
    "auth.group": AdminModel("group"),
    "tenants.tenant": AdminModel("tenant"),
    "tenants.membership": AdminModel("membership", _member_form),
    "tenants.tenantapikey": AdminModel("key", _key_form),
    "tenants.providercredential": AdminModel("credential", _credential_form),
    "llm.provider": AdminModel(None),
    "llm.llmmodel": AdminModel(None),
    "llm.routingconfig": AdminModel("config", _config_form),
    "billing.usageevent": AdminModel("event"),
    "billing.budget": AdminModel("budget", _budget_form),
    "billing.budgetalert": AdminModel("alert"),
    "billing.alertdelivery": AdminModel("delivery"),
    "billing.dailyuserrollup": AdminModel("user_rollup"),
    "billing.dailyrollup": AdminModel("daily"),
    "billing.monthlyrollup": AdminModel("monthly"),
    "billing.dailytagrollup": AdminModel("tag"),
    "billing.dailytagsetrollup": AdminModel("tagset"),
    "billing.billingexport": AdminModel("export"),
    "billing.statement": AdminModel("statement"),
    "billing.creditnote": AdminModel("credit_note"),
}
_OBJECT_VIEWS = ("change", "delete", "history")


def _registered() -> dict[str, admin.ModelAdmin]:
    return {
        model._meta.label_lower: model_admin for model, model_admin in admin.site._registry.items()
    }


@pytest.fixture
def admin_world(world):
    from django.contrib.auth.models import Group

    world.b["user"] = world.b["membership"].user
    world.b["group"] = Group.objects.create(name="globex-operators")
    return world


@pytest.fixture
def owner_session(client, owner):
    client.force_login(owner)
    return client


def _admin_url(obj: Model, view: str) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{view}", args=[obj.pk])


@pytest.mark.parametrize("label", sorted(k for k, v in ADMIN_MODELS.items() if v.kind))
def test_admin_object_pages_of_another_tenant_are_404(label, owner_session, admin_world):
    case = ADMIN_MODELS[label]
    theirs = admin_world.b[case.kind]
    before = _snapshot(theirs)
    for view in _OBJECT_VIEWS:
        url = _admin_url(theirs, view)
        assert owner_session.get(url).status_code == 404, url
        assert owner_session.post(url, {"post": "yes", "name": "x"}).status_code == 404, url
    if label == "auth.user":
        url = reverse("admin:auth_user_password_change", args=[theirs.pk])
        assert owner_session.get(url).status_code == 404
    redirect = owner_session.get(_admin_url(theirs, "change").removesuffix("change/"))
    assert redirect.status_code in (301, 302)
    assert owner_session.get(redirect["Location"]).status_code == 404
    assert _snapshot(theirs) == before


@pytest.mark.parametrize("label", sorted(ADMIN_MODELS))
def test_admin_lists_and_actions_hold_only_own_rows(label, owner_session, admin_world):
    case = ADMIN_MODELS[label]
    model_admin = _registered()[label]
    opts = model_admin.model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    response = owner_session.get(url)
    assert response.status_code in (200, 403)
    if case.kind is None or response.status_code == 403:
        return
    theirs = admin_world.b[case.kind]
    listed = {obj.pk for obj in response.context["cl"].queryset}
    assert theirs.pk not in listed
    assert admin_world.a[case.kind].pk in listed
    before = _snapshot(theirs)
    for action in model_admin.get_actions(response.wsgi_request):
        owner_session.post(url, {"action": action, "_selected_action": [theirs.pk], "post": "yes"})
    assert _snapshot(theirs) == before


@pytest.mark.parametrize("label", sorted(ADMIN_MODELS))
def test_admin_add_never_creates_in_another_tenant(label, owner_session, admin_world):
    case = ADMIN_MODELS[label]
    model = _registered()[label].model
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    if case.add is None:
        assert owner_session.get(url).status_code in (200, 403)
        return
    tenant_field = "tenant" if label != "tenants.tenant" else "pk"
    in_b = model.objects.filter(**{tenant_field: admin_world.tenant_b}).count()
    in_a = model.objects.filter(**{tenant_field: admin_world.tenant_a}).count()
    response = owner_session.post(url, case.add(admin_world))
    assert response.status_code in (200, 302), response.status_code
    assert model.objects.filter(**{tenant_field: admin_world.tenant_b}).count() == in_b
    # The form took A (the only tenant this owner manages): the add worked, in A.
    assert model.objects.filter(**{tenant_field: admin_world.tenant_a}).count() == in_a + 1


def test_a_viewer_cannot_raise_their_role(client, member, world):
    mine = Membership.objects.get(tenant=world.tenant_a, user=member)
    client.force_login(member)
    url = _admin_url(mine, "change")
    response = client.post(url, {"tenant": world.tenant_a.pk, "user": member.pk, "role": "owner"})
    assert response.status_code == 403
    add = reverse("admin:tenants_membership_add")
    data = {"username": member.username, "role": "owner", "tenant": world.tenant_a.pk}
    assert client.post(add, data).status_code == 403
    mine.refresh_from_db()
    assert mine.role == Membership.Role.VIEWER


def test_an_admin_cannot_make_themselves_owner(client, django_user_model, world):
    carol = django_user_model.objects.create_user(username="carol", password="pw", is_staff=True)
    mine = membership_set(tenant=world.tenant_a, user=carol, role=Membership.Role.ADMIN)
    client.force_login(carol)
    response = client.post(_admin_url(mine, "change"), {"role": "owner"})
    assert response.status_code == 200  # the form again, with the refusal
    assert "Only an owner" in response.content.decode()
    add = reverse("admin:tenants_membership_add")
    response = client.post(add, {"username": "dave", "password": "a-long-password-4242",
                                 "role": "owner"})  # fmt: skip
    assert not Membership.objects.filter(user__username="dave").exists()
    mine.refresh_from_db()
    assert mine.role == Membership.Role.ADMIN


def test_an_api_key_opens_no_admin_page(client, world):
    response = client.get(reverse("admin:index"), HTTP_AUTHORIZATION=f"Bearer {world.key_a}")
    assert response.status_code == 302 and "/login/" in response["Location"]


def _admin_index(client, world: World) -> None:
    body = client.get(reverse("admin:index")).content.decode()
    assert "globex" not in body.lower() and "cfg-globex" not in body


def _admin_search(client, world: World) -> None:
    """The command search, with model search on (unfold's COMMAND.search_models, set by the
    test): each model admin's scoped queryset, so B's rows are never found."""
    from django.core.cache import cache

    cache.clear()  # unfold caches results per user id and term
    for term in ("globex", "cfg-globex", "key-globex", "req-globex"):
        response = client.get(reverse("admin:search"), {"s": term, "extended": "1"})
        assert response.status_code == 200
        assert "globex" not in response.content.decode().lower()
    found = client.get(reverse("admin:search"), {"s": "cfg-acme", "extended": "1"})
    assert "cfg-acme" in found.content.decode()


def _admin_autocomplete(client, world: World) -> None:
    for model_name, field in (("budget", "config"), ("budget", "tenant"), ("budget", "api_key")):
        response = client.get(
            reverse("admin:autocomplete"),
            {"app_label": "billing", "model_name": model_name, "field_name": field, "term": ""},
        )
        assert response.status_code in (200, 403, 404)
        assert "globex" not in response.content.decode().lower()


def _admin_view_on_site(client, world: World) -> None:
    for kind in ("config", "key", "credential", "budget", "event", "export"):
        obj = world.b[kind]
        content_type = ContentType.objects.get_for_model(obj)
        url = reverse("admin:view_on_site", args=[content_type.pk, obj.pk])
        assert client.get(url).status_code == 404


def _admin_app_list(client, world: World) -> None:
    for app_label in ("tenants", "llm", "billing", "auth"):
        response = client.get(reverse("admin:app_list", args=[app_label]))
        assert response.status_code in (200, 404)
        assert "globex" not in response.content.decode().lower()


def _admin_catch_all(client, world: World) -> None:
    for path in (f"tenants/tenant/{world.tenant_b.pk}/change/extra/", "no/such/page/"):
        response = client.get(f"/admin/{path}")
        assert response.status_code in (301, 302, 404)
        if response.status_code != 404:
            assert client.get(response["Location"]).status_code == 404


def _admin_statement_download(client, world: World) -> None:
    for kind in ("json", "csv", "pdf"):
        theirs = reverse("admin:billing_statement_download", args=[world.b["statement"].pk, kind])
        assert client.get(theirs).status_code == 404
        own = reverse("admin:billing_statement_download", args=[world.a["statement"].pk, kind])
        response = client.get(own)
        assert response.status_code == 200 and b"globex" not in response.content.lower()


def _no_tenant_data(client, world: World) -> None:
    """Login, logout, password and i18n pages: the user's own, no tenant's data."""


ADMIN_SITE_CASES: dict[str, Callable] = {
    "admin:index": _admin_index,
    "admin:search": _admin_search,
    "admin:autocomplete": _admin_autocomplete,
    "admin:view_on_site": _admin_view_on_site,
    "admin:app_list": _admin_app_list,
    "admin:billing_statement_download": _admin_statement_download,
    "<unnamed> admin/(?P<url>.*)$": _admin_catch_all,
    "admin:login": _no_tenant_data,
    "admin:logout": _no_tenant_data,
    "admin:password_change": _no_tenant_data,
    "admin:password_change_done": _no_tenant_data,
    "admin:jsi18n": _no_tenant_data,
}


@pytest.mark.parametrize("name", sorted(ADMIN_SITE_CASES))
def test_admin_site_page_is_isolated(name, owner_session, admin_world, settings):
    settings.UNFOLD = {**settings.UNFOLD, "COMMAND": {"search_models": True}}
    ADMIN_SITE_CASES[name](owner_session, admin_world)


def _admin_model_url_names() -> set[str]:
    names = set()
    for label in ADMIN_MODELS:
        app_label, model_name = label.split(".")
        prefix = f"admin:{app_label}_{model_name}"
        names |= {f"{prefix}_{view}" for view in ("changelist", "add", *_OBJECT_VIEWS)}
        names.add(f"<unnamed> admin/{app_label}/{model_name}/<path:object_id>/")
    names.add("admin:auth_user_password_change")
    return names


def test_every_admin_model_has_an_isolation_case():
    assert set(_registered()) == set(ADMIN_MODELS)


def test_every_admin_url_has_an_isolation_case():
    assert _url_names("admin/") == set(ADMIN_SITE_CASES) | _admin_model_url_names()
