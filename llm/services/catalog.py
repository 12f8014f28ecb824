"""Transition module: the catalog now lives in catalog_file (reading and validating our file),
catalog_changes, catalog_load, litellm_prices and model_prices (llm/services/)."""

from llm.services.catalog_file import CAPABILITIES  # transition: lead moves importers

__all__ = ["CAPABILITIES"]
