"""django-unfold settings for the admin. Pure data (no imports with side effects), imported by
config/settings.py as `from config.unfold import UNFOLD`.

The sidebar leads with the admin web app's pages (/console/, which pick the user's tenant), then
the settings a tenant admin edits, then records; the internal tables (rollups) are listed for
operators only (their admins refuse anyone else too, billing/admin.py)."""

_OPERATORS = "console.navigation.operator_only"

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
        "navigation": [
            {
                "title": "Console",
                "items": [
                    {"title": "Dashboard", "icon": "monitoring", "link": "/console/go/dashboard/"},
                    {
                        "title": "Usage explorer",
                        "icon": "query_stats",
                        "link": "/console/go/usage/",
                    },
                    {"title": "Budgets", "icon": "savings", "link": "/console/go/budgets/"},
                    {
                        "title": "Routing configs",
                        "icon": "alt_route",
                        "link": "/console/go/configs/",
                    },
                    {
                        "title": "Billing exports",
                        "icon": "receipt_long",
                        "link": "/console/go/exports/",
                    },
                    {"title": "API keys", "icon": "key", "link": "/console/go/keys/"},
                    {"title": "BYOK keys", "icon": "lock", "link": "/console/go/credentials/"},
                    {"title": "Members", "icon": "group", "link": "/console/go/members/"},
                    {"title": "Audit log", "icon": "history", "link": "/console/go/audit/"},
                    {
                        "title": "Operator dashboard",
                        "icon": "dns",
                        "link": "/console/operator/",
                        "permission": _OPERATORS,
                    },
                ],
            },
            {
                "title": "Settings",
                "items": [
                    {"title": "Admin home", "icon": "home", "link": "/admin/"},
                    {"title": "API keys", "icon": "key", "link": "/admin/tenants/tenantapikey/"},
                    {
                        "title": "BYOK credentials",
                        "icon": "lock",
                        "link": "/admin/tenants/providercredential/",
                    },
                    {"title": "Members", "icon": "group", "link": "/admin/tenants/membership/"},
                    {"title": "Budgets (edit)", "icon": "tune", "link": "/admin/billing/budget/"},
                    {"title": "Tenants", "icon": "domain", "link": "/admin/tenants/tenant/"},
                    {"title": "Models", "icon": "neurology", "link": "/admin/llm/llmmodel/"},
                ],
            },
            {
                "title": "Records",
                "items": [
                    {"title": "Usage events", "icon": "list", "link": "/admin/billing/usageevent/"},
                    {
                        "title": "Budget alerts",
                        "icon": "notifications",
                        "link": "/admin/billing/budgetalert/",
                    },
                    {
                        "title": "Alert deliveries",
                        "icon": "outgoing_mail",
                        "link": "/admin/billing/alertdelivery/",
                    },
                    {
                        "title": "Daily rollups",
                        "icon": "table",
                        "link": "/admin/billing/dailyrollup/",
                        "permission": _OPERATORS,
                    },
                    {
                        "title": "Monthly rollups",
                        "icon": "table",
                        "link": "/admin/billing/monthlyrollup/",
                        "permission": _OPERATORS,
                    },
                ],
            },
        ],
    },
}
