"""How a model reference names a catalog model (llm/model_refs.py), in memory and in the
database: a bare id that Azure also lists is OpenAI's, only a first-party-less id is ambiguous."""

from types import SimpleNamespace

from django.core.management import call_command

from llm.model_refs import model_ref_resolve_among
from llm.models import LLMModel


def _model(provider: str, model_id: str, *, first_party: bool):
    return SimpleNamespace(provider=provider, model_id=model_id, first_party=first_party)


def _resolve(ref: str, models: list):
    return model_ref_resolve_among(
        ref,
        models=models,
        qualified_id=lambda m: f"{m.provider}/{m.model_id}",
        first_party=lambda m: m.first_party,
    )


OPENAI = _model("openai", "gpt-4o-mini", first_party=True)
AZURE = _model("azure", "gpt-4o-mini", first_party=False)
CEREBRAS = _model("cerebras", "gpt-oss-120b", first_party=False)
SAMBANOVA = _model("sambanova", "gpt-oss-120b", first_party=False)
CATALOG = [OPENAI, AZURE, CEREBRAS, SAMBANOVA]


def test_a_bare_id_that_a_host_also_lists_is_the_first_partys():
    assert _resolve("gpt-4o-mini", CATALOG) is OPENAI
    assert _resolve("azure/gpt-4o-mini", CATALOG) is AZURE
    assert _resolve("openai/gpt-4o-mini", CATALOG) is OPENAI


def test_an_id_only_hosts_list_is_ambiguous():
    assert _resolve("gpt-oss-120b", CATALOG) is None
    assert _resolve("cerebras/gpt-oss-120b", CATALOG) is CEREBRAS


def test_a_single_listing_needs_no_first_party():
    assert _resolve("gpt-oss-120b", [CEREBRAS]) is CEREBRAS
    assert _resolve("nothing", CATALOG) is None
    assert _resolve("", CATALOG) is None


def test_two_first_parties_for_one_bare_id_stay_ambiguous():
    twin = _model("other", "gpt-4o-mini", first_party=True)
    assert _resolve("gpt-4o-mini", [OPENAI, twin]) is None


def test_the_shipped_catalog_resolves_every_readme_id_to_its_maker(db):
    call_command("load_catalog", verbosity=0)
    for ref, provider in (
        ("gpt-4o-mini", "openai"),
        ("gpt-4o", "openai"),
        ("gpt-4.1", "openai"),
        ("claude-haiku-4-5", "anthropic"),
    ):
        model = LLMModel.objects.resolve(ref=ref)
        assert model is not None and model.provider.slug == provider, ref
    assert LLMModel.objects.resolve(ref="azure/gpt-4o-mini").provider.slug == "azure"
    assert LLMModel.objects.resolve(ref="gpt-oss-120b") is None  # Cerebras and SambaNova host it
