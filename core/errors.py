"""The application's error tree. Each error knows its HTTP status and contract error code.

Messages are shown to clients: they never contain a secret.
"""


class ApplicationError(Exception):
    status = 400
    code = "invalid_request"
    type = "invalid_request_error"

    def __init__(self, message: str, *, extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.headers = headers or {}

    def as_body(self) -> dict:
        error = {"message": self.message, "type": self.type, "code": self.code}
        error.update(self.extra)
        return {"error": error}


class InvalidRequest(ApplicationError):
    pass


class UnsupportedFeature(InvalidRequest):
    """The serving model cannot honour a field of the request; `param` names it."""

    code = "unsupported_feature"

    def __init__(self, message: str, *, param: str):
        super().__init__(message, extra={"param": param})


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class InvalidApiKey(ApplicationError):
    status = 401
    code = "invalid_api_key"
    type = "authentication_error"


class PermissionDenied(ApplicationError):
    status = 403
    code = "permission_denied"
    type = "permission_error"


class ModelNotAllowed(ApplicationError):
    status = 403
    code = "model_not_allowed"
    type = "permission_error"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class BudgetExceeded(ApplicationError):
    status = 402
    code = "budget_exceeded"
    type = "budget_error"


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"
    type = "rate_limit_error"


class UpstreamError(ApplicationError):
    status = 502
    code = "upstream_error"
    type = "upstream_error"


class UpstreamTimeout(ApplicationError):
    status = 504
    code = "upstream_timeout"
    type = "upstream_error"


class ServiceUnavailable(ApplicationError):
    status = 503
    code = "service_unavailable"
    type = "server_error"


class SecretDecryptionError(ApplicationError):
    """A stored secret cannot be read with the configured keys (missing or wrong key)."""

    status = 500
    code = "secret_unavailable"
    type = "server_error"
