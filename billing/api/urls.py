from django.urls import path
from rest_framework.routers import SimpleRouter

from billing.api import views

router = SimpleRouter()
router.register("budgets", views.BudgetViewSet, basename="budget")
router.register("exports", views.ExportViewSet, basename="export")

urlpatterns = [
    *router.urls,
    path("usage/", views.UsageView.as_view(), name="usage"),
    path("usage/events/", views.UsageEventListView.as_view(), name="usage-events"),
]
