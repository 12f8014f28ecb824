"""Embedding models in the catalog index: out of everything chat routing reads, found by the
embeddings endpoint's lookup; a routing config cannot name one."""

import dataclasses

import pytest
from django.core.exceptions import ValidationError

from llm.services.routing_snapshots import CatalogIndex
from llm.tests.routing_support import MINI, mi
from tests.support.catalog import config_build

SMALL = dataclasses.replace(
    mi("openai/text-embedding-3-small", inp="0.02", outp="0"), kind="embedding"
)


def test_chat_routing_never_sees_embedding_models():
    catalog = CatalogIndex([MINI, SMALL])
    assert catalog.resolve("text-embedding-3-small") is None
    assert catalog.resolve("openai/text-embedding-3-small") is None
    assert SMALL not in catalog.all()
    assert SMALL not in catalog.for_providers(["openai"])
    assert catalog.resolve_embedding("text-embedding-3-small") == SMALL
    assert catalog.resolve_embedding("gpt-4o-mini") is None
    assert catalog.embedding_models() == [SMALL]


@pytest.mark.django_db
def test_a_config_cannot_route_to_an_embedding_model(tenant, catalog):
    with pytest.raises(ValidationError) as caught:
        config_build(tenant, primary_model="openai/text-embedding-3-small").full_clean()
    assert "primary_model" in caught.value.message_dict
