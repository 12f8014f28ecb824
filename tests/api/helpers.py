def assert_error(response, status: int, code: str) -> dict:
    """The contract's error shape, with the expected status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["type"]
    return body["error"]
