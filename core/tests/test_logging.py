import logging

from core.logging import RedactSecretsFilter, redact


def test_redacts_every_secret_shape():
    line = (
        "auth Bearer tg_abcdefghijklmnopqrstuvwxyz0123456789 upstream key sk-proj-ABCDEFGH12345678 "
        'header x-api-key: sk-ant-api03-zzzzzzzzzz and {"api_key": "AIzaSyA1234567890"} '
        "url https://g/v1beta/models/x?key=AIzaSyB999999999&alt=sse"
    )
    cleaned = redact(line)
    for secret in ("tg_abcdefghij", "sk-proj-ABCD", "sk-ant-api03", "AIzaSyA123", "AIzaSyB999"):
        assert secret not in cleaned
    assert cleaned.count("[redacted]") >= 5


def test_filter_rewrites_formatted_message():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "calling with %s", ("tg_secretsecretsecret123",), None
    )
    RedactSecretsFilter().filter(record)
    assert "tg_secret" not in record.getMessage()
