"""What the catalog API tests share: the endpoints, and Groq as the provider they add."""

PROVIDERS = "/api/v1/providers/"
MODELS = "/api/v1/models/"
GROQ = {
    "slug": "groq",
    "name": "Groq",
    "wire_format": "openai_chat",
    "base_url": "https://api.groq.com/openai/v1",
}


def post_groq(client) -> None:
    """Add Groq through the API (an operator's client): a 201 that says where it is."""
    response = client.post(PROVIDERS, GROQ, format="json")
    assert response.status_code == 201, response.content
    assert response["Location"].endswith("/api/v1/providers/groq/")
