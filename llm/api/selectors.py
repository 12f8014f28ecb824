"""Reads for the management API: the catalog (global), routing configs (tenant-owned) and the
providers' health (global, with the caller's own credentials).

`tenant=None` means every tenant and is only passed for platform staff who named no tenant.
"""

from decimal import Decimal

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from core.breaker_state import PLATFORM_CREDENTIAL, breaker_states, byok_credential
from core.upstream_health import WINDOW_SECONDS, UpstreamHealth, upstream_health_window
from llm.models import LLMModel, Provider, RoutingConfig
from llm.selectors import routing_config_list
from tenants.models import Tenant
from tenants.selectors import credential_list


def json_list_contains(qs: QuerySet, *, field: str, value: str) -> QuerySet:
    """Rows whose JSON list `field` holds `value`; SQLite has no JSON `contains` lookup."""
    if connection.vendor == "postgresql":
        return qs.filter(**{f"{field}__contains": [value]})
    table = qs.model._meta.db_table
    column = qs.model._meta.get_field(field).column
    sql = f'SELECT t.id FROM "{table}" t, json_each(t."{column}") j WHERE j.value = %s'  # noqa: S608
    return qs.filter(id__in=RawSQL(sql, [value]))  # noqa: S611 (identifiers from the model)


def provider_list(*, include_inactive: bool = False) -> QuerySet[Provider]:
    qs = Provider.objects.all().order_by("slug")
    return qs if include_inactive else qs.filter(is_active=True)


def provider_get(*, slug: str, include_inactive: bool = False) -> Provider | None:
    return provider_list(include_inactive=include_inactive).filter(slug=slug).first()


def llm_model_list(
    *,
    include_inactive: bool = False,
    provider: str | None = None,
    capability: str | None = None,
    max_input_price: Decimal | None = None,
    max_output_price: Decimal | None = None,
) -> QuerySet[LLMModel]:
    qs = LLMModel.objects.select_related("provider").order_by("provider__slug", "model_id", "id")
    if not include_inactive:
        qs = qs.filter(is_active=True, provider__is_active=True)
    if provider:
        qs = qs.filter(provider__slug=provider)
    if capability:
        qs = json_list_contains(qs, field="capabilities", value=capability)
    if max_input_price is not None:
        qs = qs.filter(input_price_per_1m__lte=max_input_price)
    if max_output_price is not None:
        qs = qs.filter(output_price_per_1m__lte=max_output_price)
    return qs


def catalog_has_priced_model() -> bool:
    """At least one model can be routed: active, of an active provider, with known prices."""
    return (
        llm_model_list()
        .filter(input_price_per_1m__isnull=False, output_price_per_1m__isnull=False)
        .exists()
    )


def llm_model_get(*, ref: str, include_inactive: bool = False) -> LLMModel | None:
    """A model by its qualified id `provider/model_id`."""
    if "/" not in ref:
        return None
    provider_slug, model_id = ref.split("/", 1)
    return (
        llm_model_list(include_inactive=include_inactive)
        .filter(provider__slug=provider_slug, model_id=model_id)
        .first()
    )


def config_list(*, tenant: Tenant | None) -> QuerySet[RoutingConfig]:
    if tenant is not None:
        return routing_config_list(tenant=tenant).order_by("name", "id")
    return RoutingConfig.objects.select_related("tenant").order_by("tenant__slug", "name", "id")


def config_resolve(*, tenant: Tenant, ref: str | int) -> RoutingConfig | None:
    """The tenant's config by id or by name."""
    qs = routing_config_list(tenant=tenant)
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        found = qs.filter(pk=int(ref)).first()
        if found is not None:
            return found
    return qs.filter(name=str(ref)).first()


def _health_figures(health: UpstreamHealth, breaker: str) -> dict:
    return {
        "breaker": breaker,
        "calls": health.calls,
        "errors": health.errors,
        "error_rate": health.error_rate,
        "p50_latency_ms": health.p50_latency_ms,
    }


def provider_health_list(*, tenant: Tenant | None, now: float | None = None) -> list[dict]:
    """Each active provider's platform key over the last five minutes (core/upstream_health.py
    defines the window), with the caller tenant's own active credentials for it; figures from
    every gateway process, breaker states as they are now."""
    providers = list(provider_list())
    own = [] if tenant is None else list(credential_list(tenant=tenant).filter(is_active=True))
    slugs = {p.pk: p.slug for p in providers}
    own = [c for c in own if c.provider_id in slugs]
    platform = {p.pk: (p.slug, PLATFORM_CREDENTIAL) for p in providers}
    byok = {c.pk: (slugs[c.provider_id], byok_credential(c.pk)) for c in own}
    upstreams = [*platform.values(), *byok.values()]
    health = upstream_health_window(upstreams=upstreams, now=now)
    breakers = breaker_states(breakers=upstreams)
    rows = []
    for provider in providers:
        ident = platform[provider.pk]
        credentials = [
            {
                "id": c.pk,
                "last4": c.last4,
                **_health_figures(health[byok[c.pk]], breakers[byok[c.pk]]),
            }
            for c in own
            if c.provider_id == provider.pk
        ]
        rows.append(
            {
                "provider": provider.slug,
                "name": provider.name,
                "window_seconds": WINDOW_SECONDS,
                **_health_figures(health[ident], breakers[ident]),
                "credentials": credentials,
            }
        )
    return rows
