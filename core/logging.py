"""Secrets never reach a log: every record is redacted (core/redaction.py) as it is made.

`configure_logging` (settings.LOGGING_CONFIG) applies the LOGGING dict and installs a record
factory that redacts each record's message and traceback when the record is created, so every
handler sees the clean record: the console, a shipper's handler, pytest's caplog. The filter
below does the same for a handler configured without it. Structured records (a message object
with `extra={"fields": ...}`, core/log_format.py) are rendered lazily and redacted by their
formatter instead.
"""

import logging
import logging.config
import traceback

from core.redaction import redact

__all__ = ["RedactSecretsFilter", "configure_logging", "redact", "redact_record"]


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite the record's text in place when it holds anything shaped like a secret."""
    if isinstance(record.msg, str):
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad format arguments: the handler reports those
            message = record.msg
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_installed = False


def _install_record_factory() -> None:
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    _installed = True


def configure_logging(config: dict) -> None:
    """Django's LOGGING_CONFIG hook: dictConfig, then redaction of every record."""
    logging.config.dictConfig(config)
    _install_record_factory()
