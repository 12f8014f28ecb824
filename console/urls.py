"""The admin web app (/console/): tenant pages under /console/t/<slug>/, operators' pages."""

from django.urls import path

from console.views import audit, budgets, configs, dashboard, exports, home, operator, usage

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
]
