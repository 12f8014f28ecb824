"""/v1/models: what a key may ask for."""

from gateway.services import snapshots
from gateway.services.request_parsing import authenticate
from gateway.services.upstream_keys import provider_has_key


def _entry(model_id: str, owned_by: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by}


async def models_list(*, authorization: str | None) -> dict:
    """Models this key may use: catalog models of providers it has a key for, plus `auto` and
    the tenant's routing config names (both route through the tenant's configs)."""
    key = await authenticate(authorization=authorization)
    catalog = await snapshots.catalog_get()
    snapshot = await snapshots.tenant_snapshot_get(tenant_id=key.tenant_id)
    use_byok = any(c.use_byok for c in snapshot.configs)
    data = []
    if any(c.is_default for c in snapshot.configs):
        data.append(_entry("auto", "tollgate"))
    for config in snapshot.configs:
        data.append(_entry(config.name, "tollgate"))
    for model in catalog.all():
        if provider_has_key(model=model, use_byok=use_byok, credentials=snapshot.credentials):
            data.append(_entry(model.qualified_id, model.provider_slug))
    return {"object": "list", "data": data}
