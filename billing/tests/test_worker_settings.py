"""Settings for the Celery worker processes the worker tests start (not a test module): a short
broker visibility timeout so a killed worker's unacknowledged task is redelivered quickly."""

from config.settings_test import *  # noqa: F403

__test__ = False

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
