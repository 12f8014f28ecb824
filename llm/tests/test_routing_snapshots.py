"""The snapshot loaders: the catalog index and a tenant's configs, one query each."""

from decimal import Decimal

from llm.services.routing_snapshots import ConfigInfo, catalog_index_load, tenant_configs_load
from tests.support.catalog import config_create


def test_catalog_index_load(edge_case_catalog, django_assert_num_queries):
    with django_assert_num_queries(1):
        index = catalog_index_load()
    mini = index.resolve("gpt-4o-mini")
    assert mini == index.resolve("openai/gpt-4o-mini")
    assert mini.wire_format == "openai_chat"
    assert mini.api_key_env == "OPENAI_API_KEY"
    assert mini.base_url_env == "TOLLGATE_OPENAI_BASE_URL"
    assert mini.cached_input_price_per_1m == Decimal("0.075")
    assert mini.capabilities == ("tools", "vision", "json_mode")
    assert index.resolve("anthropic/claude-haiku-4-5").auth_style == "x_api_key"
    assert index.resolve("openai/mystery") is not None  # exists, but...
    assert sorted(m.qualified_id for m in index.all()) == [
        "anthropic/claude-haiku-4-5",
        "openai/gpt-4.1",
        "openai/gpt-4o-mini",
    ]
    for gone in ("openai/gpt-3.5-turbo", "retired/old-model", "old-model"):
        assert index.resolve(gone) is None
        assert index.is_inactive(gone)
    assert not index.is_inactive("openai/nope")


def test_tenant_configs_load_is_scoped(
    edge_case_catalog, tenant, other_tenant, django_assert_num_queries
):
    mine = config_create(
        tenant,
        is_default=True,
        fallback_models=["gpt-4.1"],
        params={"temperature": 0.2},
        cache_ttl_seconds=30,
    )
    config_create(other_tenant, name="secret", primary_model="gpt-4.1")
    with django_assert_num_queries(1):
        configs = tenant_configs_load(tenant_id=tenant.pk)
    assert configs == [
        ConfigInfo(
            pk=mine.pk,
            name="default",
            is_default=True,
            primary_model="openai/gpt-4o-mini",
            fallback_models=("gpt-4.1",),
            use_byok=False,
            params={"temperature": 0.2},
            rules=[],
            cache_ttl_seconds=30,
        )
    ]
