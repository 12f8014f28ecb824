"""The admin web app (/console/): tenant pages under /console/t/<slug>/, operators' pages."""

from django.urls import path

from console.views import (
    audit,
    budgets,
    configs,
    credentials,
    dashboard,
    exports,
    home,
    keys,
    members,
    operator,
    usage,
)

app_name = "console"

T = "t/<slug:slug>/"

urlpatterns = [
    path("", home.pick_tenant, name="home"),
    path("go/<slug:page>/", home.pick_tenant, name="go"),
    path("operator/", operator.operator_dashboard, name="operator"),
    path(T, dashboard.dashboard, name="dashboard"),
    path(f"{T}usage/", usage.usage, name="usage"),
    path(f"{T}usage/events.csv", usage.usage_events_csv, name="usage-events-csv"),
    path(f"{T}budgets/", budgets.budgets, name="budgets"),
    path(f"{T}audit/", audit.audit, name="audit"),
    path(f"{T}exports/", exports.exports, name="exports"),
    path(f"{T}exports/generate/", exports.export_regenerate, name="export-regenerate"),
    path(f"{T}exports/<int:export_id>/download/", exports.export_download, name="export-download"),
    path(f"{T}configs/", configs.configs, name="configs"),
    path(f"{T}configs/new/", configs.config_edit, name="config-new"),
    path(f"{T}configs/new/preview/", configs.config_preview, name="config-preview-new"),
    path(f"{T}configs/<int:config_id>/", configs.config_edit, name="config-edit"),
    path(f"{T}configs/<int:config_id>/preview/", configs.config_preview, name="config-preview"),
    path(f"{T}keys/", keys.keys, name="keys"),
    path(f"{T}keys/<int:key_id>/revoke/", keys.key_revoke, name="key-revoke"),
    path(f"{T}keys/<int:key_id>/access/", keys.key_access, name="key-access"),
    path(f"{T}members/", members.members, name="members"),
    path(f"{T}members/<int:membership_id>/role/", members.member_role, name="member-role"),
    path(f"{T}members/<int:membership_id>/remove/", members.member_delete, name="member-remove"),
    path(f"{T}credentials/", credentials.credentials, name="credentials"),
    path(
        f"{T}credentials/<int:credential_id>/rotate/",
        credentials.credential_rotate,
        name="credential-rotate",
    ),
    path(
        f"{T}credentials/<int:credential_id>/active/",
        credentials.credential_active,
        name="credential-active",
    ),
]
