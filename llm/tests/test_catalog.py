"""The shipped catalog file, `load_catalog` (idempotence, price history) and the LiteLLM refresh."""

import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from llm.models import AuthStyle, LLMModel, LLMModelPrice, Provider, WireFormat
from llm.rules import validate_routing_config
from llm.selectors import model_resolve
from llm.services.catalog_file import CATALOG_PATH, CatalogInvalid, catalog_parse
from llm.services.catalog_load import catalog_load
from llm.services.litellm_prices import litellm_price_per_1m
from llm.services.model_prices import model_price_at

LITELLM_FIXTURE = Path(__file__).parent / "fixtures" / "litellm_prices_small.json"

# Every model DESIGN.md names, plus the ones the foundation issue asks for by name.
REQUIRED_MODELS = [
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "openai/gpt-4.1",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1-nano",
    "openai/o3",
    "openai/o4-mini",
    "anthropic/claude-haiku-4-5",
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-opus-4-1",
    "google/gemini-2.5-flash",
    "google/gemini-2.5-pro",
    "google/gemini-2.5-flash-lite",
]
OPENAI_COMPATIBLE = [
    "azure",
    "deepseek",
    "groq",
    "mistral",
    "together",
    "fireworks",
    "xai",
    "perplexity",
    "openrouter",
    "cerebras",
    "deepinfra",
    "ollama",
    "vllm",
]


@pytest.fixture
def shipped() -> dict:
    return json.loads(CATALOG_PATH.read_text(encoding="utf-8"))


def _by_ref(doc: dict) -> dict[str, tuple[dict, dict]]:
    return {f"{p['slug']}/{m['id']}": (p, m) for p in doc["providers"] for m in p["models"]}


def _write(tmp_path: Path, providers: list[dict], name: str = "catalog.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"format": "tollgate-catalog/1", "providers": providers}))
    return path


def _provider(models: list[dict], slug: str = "acme-ai") -> dict:
    return {
        "slug": slug,
        "name": "Acme AI",
        "wire_format": "openai_chat",
        "base_url": "https://api.acme-ai.example/v1",
        "auth_style": "bearer",
        "api_key_env": "ACME_AI_API_KEY",
        "models": models,
    }


def _model(model_id: str = "acme-1", price: dict | None = None, **extra) -> dict:
    spec = {"id": model_id, "context_window": 32000, "max_output_tokens": 4096, **extra}
    if price is not None:
        spec["price"] = price
    return spec


# --- the shipped file ------------------------------------------------------------------------


def test_shipped_catalog_is_valid_and_large_enough(shipped):
    providers = catalog_parse(data=shipped)  # raises on any invalid field

    refs = [f"{p['slug']}/{m['id']}" for p in shipped["providers"] for m in p["models"]]
    assert len(providers) >= 20
    assert len(refs) >= 50
    assert len(refs) == len(set(refs)), "duplicate provider/model id"
    assert len({p["slug"] for p in shipped["providers"]}) == len(shipped["providers"])
    for provider in shipped["providers"]:
        assert provider["wire_format"] in WireFormat.values
        assert provider["auth_style"] in AuthStyle.values


def test_shipped_catalog_has_every_named_model_priced(shipped):
    models = _by_ref(shipped)
    for ref in REQUIRED_MODELS:
        assert ref in models, f"{ref} missing from the catalog"
        price = models[ref][1]["price"]
        assert Decimal(price["input"]) > 0 and Decimal(price["output"]) > 0, ref
        assert price["source"] and price["date"], ref
    slugs = {p["slug"] for p in shipped["providers"]}
    assert set(OPENAI_COMPATIBLE) <= slugs


def test_shipped_prices_are_exact_decimal_strings(shipped):
    for ref, (_, model) in _by_ref(shipped).items():
        for key in ("input", "output", "cached_input"):
            value = model["price"].get(key)
            assert value is None or isinstance(value, str), f"{ref}.{key} is not a string"
            if value is not None:
                assert Decimal(value) >= 0


def test_shipped_base_urls_follow_the_adapter_conventions(shipped):
    for provider in shipped["providers"]:
        url = provider["base_url"]
        if provider["wire_format"] == "anthropic_messages":
            assert url == "https://api.anthropic.com"
            assert provider["api_key_env"] == "ANTHROPIC_API_KEY"
        elif provider["wire_format"] == "gemini":
            assert url == "https://generativelanguage.googleapis.com/v1beta"
            assert provider["api_key_env"] == "GEMINI_API_KEY"
        else:
            assert not url.endswith(("/", "/chat/completions")), provider["slug"]
    by_slug = {p["slug"]: p for p in shipped["providers"]}
    assert by_slug["openai"]["base_url"] == "https://api.openai.com/v1"
    assert by_slug["groq"]["base_url"] == "https://api.groq.com/openai/v1"
    assert by_slug["ollama"]["base_url"] == "http://localhost:11434/v1"
    assert by_slug["vllm"]["base_url"] == "http://localhost:8000/v1"


def test_local_servers_are_explicitly_free(shipped):
    models = _by_ref(shipped)
    assert "ollama/llama3.1:8b" in models and "ollama/qwen2.5:7b" in models
    local = [(p, m) for p, m in models.values() if p["slug"] in ("ollama", "vllm")]
    assert {p["slug"] for p, _ in local} == {"ollama", "vllm"}
    for provider, model in local:
        assert provider["auth_style"] == "none" and not provider["api_key_env"]
        assert model["price"]["input"] == "0" and model["price"]["output"] == "0"


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_loaded_model_matches_the_contract_example():
    call_command("load_catalog", verbosity=0)

    model = LLMModel.objects.get(provider__slug="openai", model_id="gpt-4o-mini")
    assert model.context_window == 128000
    assert model.max_output_tokens == 16384
    assert isinstance(model.input_price_per_1m, Decimal)
    assert model.input_price_per_1m == Decimal("0.15")
    assert model.output_price_per_1m == Decimal("0.60")
    assert model.cached_input_price_per_1m == Decimal("0.075")
    assert {"tools", "vision", "json_mode", "streaming"} <= set(model.capabilities)
    assert (model.speed_tier, model.quality_tier) == ("fast", "good")
    assert model.provider.wire_format == WireFormat.OPENAI_CHAT
    ollama = LLMModel.objects.get(provider__slug="ollama", model_id="llama3.1:8b")
    assert ollama.is_priced and ollama.input_price_per_1m == 0


@pytest.mark.django_db
def test_load_twice_gives_the_same_rows_and_reports_no_change():
    first = StringIO()
    call_command("load_catalog", stdout=first)
    snapshot = {
        "providers": list(Provider.objects.order_by("slug").values()),
        "models": list(LLMModel.objects.order_by("id").values()),
        "prices": list(LLMModelPrice.objects.order_by("id").values()),
    }
    assert "created" in first.getvalue()
    assert LLMModel.objects.count() >= 50

    second = StringIO()
    call_command("load_catalog", stdout=second)

    assert list(Provider.objects.order_by("slug").values()) == snapshot["providers"]
    assert list(LLMModel.objects.order_by("id").values()) == snapshot["models"]
    assert list(LLMModelPrice.objects.order_by("id").values()) == snapshot["prices"]
    out = second.getvalue()
    assert "No changes." in out
    assert "created" not in out and "updated" not in out
    assert f"{LLMModel.objects.count()} unchanged" in out


@pytest.mark.django_db
def test_price_change_keeps_history_and_the_old_price_for_earlier_usage(tmp_path):
    price = {"input": "1.00", "output": "4.00", "cached_input": "0.25", "source": "vendor"}
    call_command("load_catalog", file=_write(tmp_path, [_provider([_model(price=price)])]))
    model = LLMModel.objects.get(model_id="acme-1")
    earlier = timezone.now()

    new_price = {**price, "input": "0.80", "output": "3.20"}
    out = StringIO()
    call_command(
        "load_catalog", file=_write(tmp_path, [_provider([_model(price=new_price)])]), stdout=out
    )

    model.refresh_from_db()
    assert model.input_price_per_1m == Decimal("0.80")
    assert "acme-ai/acme-1: input_price_per_1m 1 -> 0.8" in out.getvalue()
    assert model.price_history.count() == 2
    old = model_price_at(model=model, at=earlier)
    assert (old.input_price_per_1m, old.output_price_per_1m) == (Decimal("1"), Decimal("4"))
    now = model_price_at(model=model, at=timezone.now())
    assert (now.input_price_per_1m, now.output_price_per_1m) == (Decimal("0.8"), Decimal("3.2"))
    assert now.cached_input_price_per_1m == Decimal("0.25")
    before_any = model.price_history.order_by("effective_from").first().effective_from
    assert model_price_at(model=model, at=before_any - timezone.timedelta(seconds=1)) is None


@pytest.mark.django_db
def test_admin_edits_survive_for_fields_the_file_does_not_set(tmp_path):
    path = _write(tmp_path, [_provider([_model(price={"input": "1", "output": "2"})])])
    call_command("load_catalog", file=path, verbosity=0)
    model = LLMModel.objects.get(model_id="acme-1")
    model.capabilities = ["tools"]  # the file sets no capabilities: the admin owns them
    model.context_window = 1000  # the file sets it: the next load restores it
    model.save()

    call_command("load_catalog", file=path, verbosity=0)

    model.refresh_from_db()
    assert model.capabilities == ["tools"]
    assert model.context_window == 32000


@pytest.mark.django_db
def test_models_missing_from_the_file_are_kept_or_deactivated_on_request(tmp_path):
    two = [_model("acme-1", price={"input": "1", "output": "2"}), _model("acme-2")]
    call_command("load_catalog", file=_write(tmp_path, [_provider(two)]), verbosity=0)
    one = _write(tmp_path, [_provider(two[:1])], name="one.json")

    call_command("load_catalog", file=one, verbosity=0)
    assert LLMModel.objects.get(model_id="acme-2").is_active

    call_command("load_catalog", file=one, deactivate_missing=True, verbosity=0)
    assert not LLMModel.objects.get(model_id="acme-2").is_active
    assert LLMModel.objects.get(model_id="acme-1").is_active


@pytest.mark.django_db
def test_unpriced_model_is_stored_with_null_prices_and_is_not_routable(tmp_path):
    models = [
        _model("acme-unpriced"),
        _model("acme-null", price={"input": None, "output": None, "source": "unknown"}),
    ]
    call_command("load_catalog", file=_write(tmp_path, [_provider(models)]), verbosity=0)

    for model_id in ("acme-unpriced", "acme-null"):
        model = LLMModel.objects.get(model_id=model_id)
        assert model.input_price_per_1m is None and model.output_price_per_1m is None
        assert not model.is_priced
        errors = validate_routing_config(
            resolve=lambda ref: model_resolve(ref=ref),
            primary_model=f"acme-ai/{model_id}",
            fallback_models=[],
            params={},
            rules=[],
        )
        assert "no known price" in errors["primary_model"]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (_model(price={"input": 0.15, "output": "0.6"}), "models[0].price.input"),
        (_model(price={"input": "0.15", "output": None}), "both known or both null"),
        (_model(price={"input": "-1", "output": "1"}), ">= 0"),
        (_model(price={"input": "0.0000001", "output": "1"}), "decimal places"),
        (_model(capabilities=["telepathy"]), "unknown ['telepathy']"),
        (_model(speed_tier="warp"), "speed_tier"),
        ({"id": "x", "context_window": 0, "max_output_tokens": 1}, "context_window"),
    ],
)
def test_invalid_catalog_entries_are_refused_with_their_path(model, message):
    with pytest.raises(CatalogInvalid) as exc:
        catalog_parse(data={"format": "tollgate-catalog/1", "providers": [_provider([model])]})
    assert any(message in error for error in exc.value.errors), exc.value.errors


def test_duplicate_ids_and_bad_wire_format_are_refused():
    provider = _provider([_model("a"), _model("a")])
    bad = {**_provider([], slug="other"), "wire_format": "soap"}
    with pytest.raises(CatalogInvalid) as exc:
        catalog_parse(data={"format": "tollgate-catalog/1", "providers": [provider, bad]})
    joined = "\n".join(exc.value.errors)
    assert "providers[0].models[1].id: duplicate 'a'" in joined
    assert "providers[1].wire_format" in joined


@pytest.mark.django_db
def test_invalid_file_writes_nothing(tmp_path):
    good = _model("acme-1", price={"input": "1", "output": "2"})
    bad = _model("acme-2", price={"input": 1.5, "output": "2"})
    with pytest.raises(CommandError, match=r"price\.input"):
        call_command("load_catalog", file=_write(tmp_path, [_provider([good, bad])]))
    assert not Provider.objects.exists()


@pytest.mark.django_db
def test_dry_run_reports_but_writes_nothing():
    out = StringIO()
    call_command("load_catalog", dry_run=True, stdout=out)
    assert "Dry run" in out.getvalue() and "created" in out.getvalue()
    assert not LLMModel.objects.exists()


@pytest.mark.django_db
def test_catalog_fixture_loads_the_shipped_catalog(catalog):
    model = model_resolve(ref="openai/gpt-4o-mini")
    assert model is not None and model.is_priced
    assert model_resolve(ref="anthropic/claude-sonnet-4-5").provider.auth_style == "x_api_key"
    assert model_resolve(ref="google/gemini-2.5-flash").provider.wire_format == "gemini"
    assert Provider.objects.count() >= 20


# --- LiteLLM's map ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("per_token", "per_1m"),
    [
        (1.5e-07, "0.15"),
        (6e-07, "0.6"),
        (7.5e-08, "0.075"),
        (2.5e-06, "2.5"),
        (1e-05, "10"),
        (3.75e-08, "0.0375"),
        (0.0, "0"),
        (0, "0"),
    ],
)
def test_litellm_per_token_floats_become_exact_decimals(per_token, per_1m):
    price = litellm_price_per_1m(per_token)
    assert isinstance(price, Decimal)
    assert str(price) == per_1m


@pytest.mark.django_db
def test_refresh_from_litellm_updates_matching_models_only():
    call_command("load_catalog", verbosity=0)

    def price(ref):
        provider, model_id = ref.split("/", 1)
        return LLMModel.objects.get(provider__slug=provider, model_id=model_id)

    opus_before = price("anthropic/claude-opus-4-1").price_tuple()
    ollama_before = price("ollama/llama3.1:8b").price_tuple()
    history_before = LLMModelPrice.objects.count()
    out = StringIO()

    call_command("load_catalog", from_litellm=str(LITELLM_FIXTURE), stdout=out)

    gpt41 = price("openai/gpt-4.1")
    assert (gpt41.input_price_per_1m, gpt41.output_price_per_1m) == (Decimal("1.8"), Decimal("7.2"))
    assert gpt41.cached_input_price_per_1m == Decimal("0.5")  # LiteLLM lacks it: kept
    assert gpt41.price_source == "litellm:litellm_prices_small.json"
    azure = price("azure/gpt-4.1")  # its own key, not OpenAI's bare `gpt-4.1`
    assert azure.input_price_per_1m == Decimal("2.2")
    assert azure.cached_input_price_per_1m == Decimal("0.55")
    flash = price("google/gemini-2.5-flash")
    assert flash.cached_input_price_per_1m == Decimal("0.0375")
    assert flash.max_output_tokens == 65535
    assert price("deepseek/deepseek-chat").input_price_per_1m == Decimal("0.27")
    assert price("anthropic/claude-haiku-4-5").output_price_per_1m == Decimal("5.5")
    assert price("openai/gpt-4o-mini").input_price_per_1m == Decimal("0.15")
    assert price("anthropic/claude-opus-4-1").price_tuple() == opus_before
    assert price("ollama/llama3.1:8b").price_tuple() == ollama_before
    assert not LLMModel.objects.filter(model_id="gpt-9-preview").exists()

    changed = {
        "openai/gpt-4.1",
        "azure/gpt-4.1",
        "google/gemini-2.5-flash",
        "deepseek/deepseek-chat",
        "anthropic/claude-haiku-4-5",
    }
    assert LLMModelPrice.objects.count() == history_before + len(changed)  # flash: cache price
    text = out.getvalue()
    assert "openai/gpt-4.1: input_price_per_1m 2 -> 1.8" in text
    assert "5 updated" in text

    again = StringIO()
    call_command("load_catalog", from_litellm=str(LITELLM_FIXTURE), stdout=again)
    assert "No changes." in again.getvalue()


@pytest.mark.django_db
def test_refresh_from_litellm_add_new_creates_only_chat_models_of_our_providers():
    call_command("load_catalog", verbosity=0)

    call_command("load_catalog", from_litellm=str(LITELLM_FIXTURE), add_new=True, verbosity=0)

    new = LLMModel.objects.get(provider__slug="openai", model_id="gpt-9-preview")
    assert (new.input_price_per_1m, new.output_price_per_1m) == (Decimal("4"), Decimal("16"))
    assert new.context_window == 400000
    assert {"tools", "vision", "streaming"} <= set(new.capabilities)
    # The map's embedding entry is not added as a chat model (ours is in the file, as one).
    [embedding] = LLMModel.objects.filter(model_id="text-embedding-3-small")
    assert embedding.kind == "embedding"
    assert not embedding.price_source.startswith("litellm")
    assert not LLMModel.objects.filter(model_id__startswith="ollama/").exists()


@pytest.mark.django_db
def test_refresh_from_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("load_catalog", from_litellm=str(tmp_path / "nope.json"))


@pytest.mark.django_db
def test_service_progress_callback_reports_each_provider(tmp_path):
    lines = []
    path = _write(tmp_path, [_provider([_model(price={"input": "1", "output": "2"})])])
    report = catalog_load(path=path, progress=lines.append)
    assert report.models["created"] == 1 and report.changed
    assert lines == ["acme-ai: provider created; models 1 created"]


@pytest.mark.django_db
def test_any_price_edit_is_recorded_in_the_history(tmp_path):
    path = _write(tmp_path, [_provider([_model(price={"input": "1", "output": "2"})])])
    call_command("load_catalog", file=path, verbosity=0)
    model = LLMModel.objects.get(model_id="acme-1")

    model.display_name = "Acme One"
    model.save()  # no price change: no history row
    assert model.price_history.count() == 1
    model.output_price_per_1m = Decimal("2.500000")  # e.g. an edit in the admin
    model.save()

    assert model.price_history.count() == 2
    latest = model_price_at(model=model, at=timezone.now())
    assert latest.output_price_per_1m == Decimal("2.5")


@pytest.mark.django_db
def test_litellm_refresh_rounds_float_noise_and_honours_litellm_key(tmp_path):
    models = [
        _model("acme-1", price={"input": "0.1", "output": "0.4"}),
        _model("acme-2", price={"input": "1", "output": "2"}, litellm_key="acme_ai/v2-renamed"),
    ]
    provider = {**_provider(models), "litellm_provider": "acme_ai"}
    call_command("load_catalog", file=_write(tmp_path, [provider]), verbosity=0)
    litellm_map = {
        "acme_ai/acme-1": {
            "litellm_provider": "acme_ai",
            "mode": "chat",
            "input_cost_per_token": 2.0000000000000002e-07,
            "output_cost_per_token": 8e-07,
        },
        "acme-1": {"litellm_provider": "other", "input_cost_per_token": 9e-06},
        "acme_ai/acme-2": {"litellm_provider": "acme_ai", "input_cost_per_token": 9e-06},
        "acme_ai/v2-renamed": {"litellm_provider": "acme_ai", "output_cost_per_token": 3e-06},
    }
    path = tmp_path / "litellm.json"
    path.write_text(json.dumps(litellm_map))

    call_command("load_catalog", from_litellm=str(path), verbosity=0)

    one = LLMModel.objects.get(model_id="acme-1")
    assert (one.input_price_per_1m, one.output_price_per_1m) == (Decimal("0.2"), Decimal("0.8"))
    two = LLMModel.objects.get(model_id="acme-2")
    assert (two.input_price_per_1m, two.output_price_per_1m) == (Decimal("1"), Decimal("3"))
