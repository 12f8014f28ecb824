from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import statements, views

router = SimpleRouter()
router.register("budgets", views.BudgetViewSet, basename="budget")
router.register("exports", views.ExportViewSet, basename="export")
router.register("statements", statements.StatementViewSet, basename="statement")
router.register("credit-notes", statements.CreditNoteViewSet, basename="credit-note")

urlpatterns = [
    *router.urls,
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("usage/events/", views.UsageEventListView.as_view(), name="usage-events"),
    path(
        "tenant/webhook-secret/rotate/",
        views.WebhookSecretRotateView.as_view(),
        name="webhook-secret-rotate",
    ),
]
