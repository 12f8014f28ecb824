"""/v1/models: what a key may ask for."""

from gateway.services import snapshots
from gateway.services.request_parsing import authenticate
from gateway.services.upstream_keys import provider_has_key


def _entry(model_id: str, owned_by: str) -> dict:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by}


async def models_list(*, authorization: str | None) -> dict:
    """Models this key may use: catalog models (chat, then embedding) of providers it has a key
    for, plus `auto` and the tenant's routing config names (both route through the tenant's
    configs); only what the key's lists and the tenant's plan allow (`model_access`)."""
    key = await authenticate(authorization=authorization)
    catalog = await snapshots.catalog_get()
    snapshot = await snapshots.tenant_snapshot_get(tenant_id=key.tenant_id)
    access = snapshots.key_access(key=key, snapshot=snapshot)
    use_byok = any(c.use_byok for c in snapshot.configs)
    data = []
    if any(c.is_default and access.allows_config(c.name) for c in snapshot.configs):
        data.append(_entry("auto", "tollgate"))
    for config in snapshot.configs:
        if access.allows_config(config.name):
            data.append(_entry(config.name, "tollgate"))
    if not access.allows_direct:
        return {"object": "list", "data": data}
    for model in [*catalog.all(), *catalog.embedding_models()]:
        if access.allows(model) and provider_has_key(
            model=model, use_byok=use_byok, credentials=snapshot.credentials
        ):
            data.append(_entry(model.qualified_id, model.provider_slug))
    return {"object": "list", "data": data}
