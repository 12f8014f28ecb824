"""The Celery app. All periodic schedules live in `config/schedules.py`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _install_schedule(sender: Celery, **kwargs) -> None:
    from config.schedules import BEAT_SCHEDULE  # read once Celery is configured (beat only)

    sender.conf.beat_schedule = BEAT_SCHEDULE
