"""Django project package.

The design card calls this package `platform`; a top-level package of that name shadows Python's
standard-library `platform` module (and breaks `import uuid`), so it is named `config`.

The Celery app lives in `config.celery` and is not imported here (the usual Django recipe does):
Celery with kombu and amqp is ~20 MiB in every process, and the web workers never send a task
(only tasks enqueue tasks; `tests/test_web_process_imports.py` holds both). `celery -A config`
finds `config.celery.app` on its own.
"""
