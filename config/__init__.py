"""Django project package.

The design card calls this package `platform`; a top-level package of that name shadows Python's
standard-library `platform` module (and breaks `import uuid`), so it is named `config`.
"""

from config.celery import app as celery_app

__all__ = ("celery_app",)
