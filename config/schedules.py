"""Every periodic task, in one place. Tasks are thin; each calls one service.

Times are UTC (CELERY_TIMEZONE); per-tenant time zones are handled inside the services (e.g.
the export schedule runs hourly and picks the tenants whose local month has turned).
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict = {
    "billing-ingest-usage": {"task": "billing.ingest_usage", "schedule": 5.0},
    "billing-rollup-daily": {"task": "billing.rollup_daily", "schedule": crontab(minute="*/10")},
    "billing-rollup-monthly": {
        "task": "billing.rollup_monthly",
        "schedule": crontab(minute=20, hour="*/6"),
    },
    "billing-evaluate-budgets": {"task": "billing.evaluate_budgets", "schedule": 60.0},
    "billing-rebuild-counters": {"task": "billing.rebuild_counters", "schedule": 300.0},
    "billing-purge-usage": {"task": "billing.purge_usage", "schedule": crontab(minute=40, hour=3)},
    "billing-schedule-exports": {
        "task": "billing.schedule_exports",
        "schedule": crontab(minute=5),
    },
    "billing-advance-statements": {
        "task": "billing.advance_statements",
        "schedule": crontab(minute=15),
    },
}
