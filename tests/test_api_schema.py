"""The OpenAPI schema at /api/schema/ is served, documents every endpoint with the bearer key
scheme, and is accurate enough to drive a call: a request built from the schema's path and
requestBody for configs/ succeeds and its response validates against the schema."""

import copy

import jsonschema_rs
import pytest
from rest_framework.test import APIClient

from llm.tests.api.test_configs import CONTRACT_PAYLOAD

EXPECTED_PATHS = {
    "/api/v1/providers/",
    "/api/v1/providers/{slug}/",
    "/api/v1/models/",
    "/api/v1/models/{model_ref}/",
    "/api/v1/configs/",
    "/api/v1/configs/{id}/",
    "/api/v1/credentials/",
    "/api/v1/credentials/{id}/",
    "/api/v1/keys/",
    "/api/v1/keys/{id}/",
    "/api/v1/keys/{id}/revoke/",
    "/api/v1/budgets/",
    "/api/v1/budgets/{id}/",
    "/api/v1/usage/",
    "/api/v1/usage/events/",
    "/api/v1/exports/",
    "/api/v1/exports/{id}/",
    "/api/v1/exports/{id}/download/",
    "/api/v1/route/preview/",
}


@pytest.fixture
def schema(db):
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _json_schema(openapi: dict, fragment: dict, *, request: bool = False) -> dict:
    """An OpenAPI 3.0 fragment as JSON Schema: `nullable` -> a null type, refs kept local; in
    requests, readOnly properties are neither required nor expected (OpenAPI 3.0 semantics)."""

    def convert(node):
        if isinstance(node, dict):
            node = {k: convert(v) for k, v in node.items()}
            if request and isinstance(node.get("properties"), dict):
                read_only = {
                    name
                    for name, prop in node["properties"].items()
                    if isinstance(prop, dict) and prop.get("readOnly")
                }
                node["properties"] = {
                    k: v for k, v in node["properties"].items() if k not in read_only
                }
                if "required" in node:
                    node["required"] = [r for r in node["required"] if r not in read_only]
            if node.pop("nullable", False):
                node = {"anyOf": [node, {"type": "null"}]}
            return node
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return {**convert(copy.deepcopy(fragment)), "components": convert(openapi["components"])}


def test_schema_lists_every_endpoint(schema):
    assert set(schema["paths"]) >= EXPECTED_PATHS
    assert schema["components"]["securitySchemes"]["tenantApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant API key (`tg_...`) with scope `read` and/or `manage`.",
    }
    config_post = schema["paths"]["/api/v1/configs/"]["post"]
    assert {"tenantApiKey": []} in config_post["security"]
    assert "400" in config_post["responses"] and "201" in config_post["responses"]


def test_docs_page(db):
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_schema_driven_config_create(schema, tenant, small_catalog, key_client):
    operation = schema["paths"]["/api/v1/configs/"]["post"]
    request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    jsonschema_rs.validate(_json_schema(schema, request_schema, request=True), CONTRACT_PAYLOAD)

    client = key_client("read", "manage")
    response = client.post("/api/v1/configs/", CONTRACT_PAYLOAD, format="json")
    assert response.status_code == 201, response.content
    response_schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    jsonschema_rs.validate(_json_schema(schema, response_schema), response.json())

    # The same for the detail read, through the path template the schema gives.
    template = "/api/v1/configs/{id}/"
    detail = schema["paths"][template]["get"]
    got = client.get(template.format(id=response.json()["id"]))
    assert got.status_code == 200
    jsonschema_rs.validate(
        _json_schema(schema, detail["responses"]["200"]["content"]["application/json"]["schema"]),
        got.json(),
    )

    # An error response matches the documented Error component.
    bad = client.post("/api/v1/configs/", {"name": "x", "primary_model": "nope"}, format="json")
    error_schema = operation["responses"]["400"]["content"]["application/json"]["schema"]
    jsonschema_rs.validate(_json_schema(schema, error_schema), bad.json())
