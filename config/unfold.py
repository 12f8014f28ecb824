"""django-unfold settings for the admin. Pure data (no imports with side effects), imported by
config/settings.py as `from config.unfold import UNFOLD`."""

UNFOLD = {
    "SITE_TITLE": "Tollgate admin",
    "SITE_HEADER": "Tollgate",
    "SITE_SUBHEADER": "LLM gateway",
    "SITE_SYMBOL": "route",
    "SITE_URL": "/",
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "billing.admin_dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
    },
}
