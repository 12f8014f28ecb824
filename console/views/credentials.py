"""BYOK credentials: provider, last4, base URL, state, and the key's last success and failure
(time and error kind, recorded by usage ingestion); add, rotate, deactivate. The key field is
write-only: never rendered back, not even after a refused save. Writes go through the API's
serializers and tenants.services, as `/api/v1/credentials/` does."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import ConsoleAccess, tenant_page
from console.form_errors import error_fields, serializer_fields
from console.rendering import render_page
from core.errors import InvalidRequest
from tenants.api.selectors import credential_list
from tenants.api.serializers import CredentialCreateSerializer, CredentialUpdateSerializer
from tenants.models import ProviderCredential
from tenants.services import credential_active_set, credential_set, credential_update


def _credential_or_404(access: ConsoleAccess, credential_id: int) -> ProviderCredential:
    credential = credential_list(tenant=access.tenant).filter(pk=credential_id).first()
    if credential is None:
        raise Http404("Not found.")
    return credential


def _page(request, access, *, errors=None, form=None, rotating=None, status=200):
    form = {k: v for k, v in (form or {}).items() if k != "api_key"}  # never echoed back
    return render_page(
        request,
        "console/credentials.html",
        title="BYOK credentials",
        access=access,
        credentials=credential_list(tenant=access.tenant),
        providers=CredentialCreateSerializer().fields["provider"].get_queryset().order_by("slug"),
        errors=errors or {},
        form=form,
        rotating=rotating,
        status=status,
    )


@tenant_page
def credentials(request: HttpRequest, access: ConsoleAccess) -> HttpResponse:
    """GET lists; POST adds a key (or rotates the provider's existing one)."""
    if request.method != "POST":
        return _page(request, access)
    access.require_write()
    post = request.POST
    serializer = CredentialCreateSerializer(
        data={k: post.get(k, "") for k in ("provider", "api_key", "base_url")}
    )
    if not serializer.is_valid():
        return _page(request, access, errors=serializer_fields(serializer), form=post, status=400)
    data = serializer.validated_data
    try:
        credential = credential_set(
            tenant=access.tenant,
            provider=data["provider"],
            api_key=data["api_key"],
            base_url=data.get("base_url", ""),
            user=request.user,
        )
    except InvalidRequest as exc:
        return _page(request, access, errors=error_fields(exc), form=post, status=400)
    messages.success(request, f"{credential.provider.slug} key …{credential.last4} saved.")
    return redirect("console:credentials", slug=access.tenant.slug)


@tenant_page
@require_POST
def credential_rotate(
    request: HttpRequest, access: ConsoleAccess, credential_id: int
) -> HttpResponse:
    """A new key and / or base URL for one credential (a new base URL needs the key again)."""
    access.require_write()
    credential = _credential_or_404(access, credential_id)
    post = request.POST
    data = {k: post[k] for k in ("api_key", "base_url") if post.get(k, "") != ""}
    if "base_url" not in data and post.get("clear_base_url"):
        data["base_url"] = ""
    serializer = CredentialUpdateSerializer(data=data, partial=True)
    if not serializer.is_valid():
        fields = serializer_fields(serializer)
        return _page(request, access, errors=fields, form=post, rotating=credential, status=400)
    try:
        credential_update(
            credential=credential,
            api_key=serializer.validated_data.get("api_key"),
            base_url=serializer.validated_data.get("base_url"),
            user=request.user,
        )
    except InvalidRequest as exc:
        fields = error_fields(exc)
        return _page(request, access, errors=fields, form=post, rotating=credential, status=400)
    messages.success(request, f"{credential.provider.slug} key updated.")
    return redirect("console:credentials", slug=access.tenant.slug)


@tenant_page
@require_POST
def credential_active(
    request: HttpRequest, access: ConsoleAccess, credential_id: int
) -> HttpResponse:
    """Deactivate (the gateway stops using it) or reactivate a stored key."""
    access.require_write()
    credential = _credential_or_404(access, credential_id)
    active = request.POST.get("active") == "1"
    credential_active_set(credential=credential, is_active=active)
    state = "reactivated" if active else "deactivated"
    messages.success(request, f"{credential.provider.slug} key {state}.")
    return redirect("console:credentials", slug=access.tenant.slug)
