"""Settings for the Celery workers the fault tests start (not a test module): a killed worker's
unacknowledged task is redelivered within seconds, and the usage entries it had read are
reclaimed after 2 s instead of a minute (production waits longer so that a live worker's batch
is never taken over)."""

from config.settings_test import *  # noqa: F403

__test__ = False

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 3,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
TOLLGATE_USAGE_RECLAIM_IDLE_MS = 2000
