"""API keys: the list, a new key (its secret on the answer to the create, and never again),
revoke, and which models / routing configs a key may call. Writes go through the API's
serializers and tenants.services, as `/api/v1/keys/` does, so the audit trail records them."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.access import ConsoleAccess, tenant_page
from console.form_errors import error_fields, serializer_fields
from console.rendering import render_page
from core.errors import InvalidRequest
from llm.api.selectors import config_list
from tenants.api.selectors import api_key_list
from tenants.api.serializers import ApiKeyAccessSerializer, ApiKeyCreateSerializer
from tenants.models import TenantApiKey
from tenants.services import api_key_access_set, api_key_create, api_key_revoke


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.replace("\n", ",").split(",") if part.strip()]


def _key_or_404(access: ConsoleAccess, key_id: int) -> TenantApiKey:
    key = api_key_list(tenant=access.tenant).filter(pk=key_id).first()
    if key is None:
        raise Http404("Not found.")
    return key


def _page(request, access, *, created=None, secret="", errors=None, form=None, status=200):
    response = render_page(
        request,
        "console/keys.html",
        title="API keys",
        access=access,
        keys=api_key_list(tenant=access.tenant)[:500],
        scopes=TenantApiKey.Scope.values,
        config_names=list(config_list(tenant=access.tenant).values_list("name", flat=True)),
        created=created,
        secret=secret,
        errors=errors or {},
        form=form or {},
        now=timezone.now(),
        status=status,
    )
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@tenant_page
def keys(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    """GET lists; POST creates. The secret is only in the answer to the POST (not stored, not
    in the session), and the page then replaces its history entry, so a reload is a plain GET."""
    if request.method != "POST":
        return _page(request, access)
    access.require_write()
    post = request.POST
    data = {
        "name": post.get("name", "").strip() or "default",
        "scopes": post.getlist("scopes"),
        "allowed_models": _names(post.get("allowed_models", "")),
        "allowed_configs": _names(post.get("allowed_configs", "")),
    }
    form = {**data, **{k: post.get(k, "") for k in ("allowed_models", "allowed_configs")}}
    serializer = ApiKeyCreateSerializer(data=data)
    if not serializer.is_valid():
        fields = serializer_fields(serializer)
        return _page(request, access, errors=fields, form=form, status=400)
    try:
        key, secret = api_key_create(
            tenant=access.tenant, created_by=request.user, **serializer.validated_data
        )
    except InvalidRequest as exc:
        return _page(request, access, errors=error_fields(exc), form=form, status=400)
    return _page(request, access, created=key, secret=secret, status=201)


@tenant_page
@require_POST
def key_revoke(request: HttpRequest, access: ConsoleAccess, key_id: int) -> HttpResponse:
    access.require_write()
    key = api_key_revoke(key=_key_or_404(access, key_id))
    messages.success(request, f"Key {key.prefix}… revoked.")
    return redirect("console:keys", slug=access.tenant.slug)


@tenant_page
@require_POST
def key_access(request: HttpRequest, access: ConsoleAccess, key_id: int) -> HttpResponse:
    """The models and routing configs a key may call (empty: no restriction)."""
    access.require_write()
    key = _key_or_404(access, key_id)
    serializer = ApiKeyAccessSerializer(
        data={
            "allowed_models": _names(request.POST.get("allowed_models", "")),
            "allowed_configs": _names(request.POST.get("allowed_configs", "")),
        }
    )
    if not serializer.is_valid():
        for path, problems in serializer_fields(serializer).items():
            messages.error(request, f"{key.prefix}… {path}: {' '.join(problems)}")
        return redirect("console:keys", slug=access.tenant.slug)
    try:
        api_key_access_set(key=key, **serializer.validated_data)
    except InvalidRequest as exc:
        for path, problems in error_fields(exc).items():
            messages.error(request, f"{key.prefix}… {path}: {' '.join(problems)}")
    else:
        messages.success(request, f"Key {key.prefix}… access saved.")
    return redirect("console:keys", slug=access.tenant.slug)
