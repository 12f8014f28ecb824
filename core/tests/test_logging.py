import logging
import sys

from core.logging import RedactSecretsFilter, redact, redact_record


def test_redacts_every_secret_shape():
    line = (
        "auth Bearer tg_abcdefghijklmnopqrstuvwxyz0123456789 upstream key sk-proj-ABCDEFGH12345678 "
        'header x-api-key: sk-ant-api03-zzzzzzzzzz and {"api_key": "AIzaSyA1234567890"} '
        "url https://g/v1beta/models/x?key=AIzaSyB999999999&alt=sse"
    )
    cleaned = redact(line)
    for secret in ("tg_abcdefghij", "sk-proj-ABCD", "sk-ant-api03", "AIzaSyA123", "AIzaSyB999"):
        assert secret not in cleaned
    assert cleaned.count("***") >= 5


def test_filter_rewrites_formatted_message():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "calling with %s", ("tg_secretsecretsecret123",), None
    )
    RedactSecretsFilter().filter(record)
    assert "tg_secret" not in record.getMessage()


def test_a_traceback_is_redacted_too():
    try:
        raise RuntimeError("upstream refused key sk-live-0123456789abcdef")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    redact_record(record)
    assert "RuntimeError" in record.exc_text
    assert "0123456789abcdef" not in record.exc_text
    formatted = logging.Formatter().format(record)
    assert "0123456789abcdef" not in formatted


def test_every_record_is_redacted_as_it_is_made_for_every_handler(caplog):
    """Django configured logging through core.logging.configure_logging (LOGGING_CONFIG): a
    handler without the filter (pytest's caplog here) sees the clean record."""
    caplog.set_level(logging.DEBUG)
    logging.getLogger("some.library").debug(
        "sending headers %r", {"authorization": "Bearer sk-abcdefghijklmnop"}
    )
    assert "abcdefghijklmnop" not in caplog.text
    assert "abcdefghijklmnop" not in caplog.records[-1].getMessage()


def test_a_structured_line_is_redacted_once_as_a_whole(monkeypatch):
    from core import log_format

    calls = []

    def counting(text, **kwargs):
        calls.append(text)
        return redact(text, **kwargs)

    monkeypatch.setattr(log_format, "redact", counting)
    line = log_format.KeyValues(
        {"request_id": "r-1", "tenant": "acme", "model": "sk-proj-abcdefghijklmnop", "cache": ""}
    )
    text = str(line)
    assert text == "request_id=r-1 tenant=acme model=sk-*** cache=-"
    assert str(line) is text  # kept: the record factory and each handler ask again
    assert calls == ["request_id=r-1 tenant=acme model=sk-proj-abcdefghijklmnop cache=-"]
