from django.urls import path
from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter()
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("keys", views.ApiKeyViewSet, basename="apikey")
router.register("audit", views.AuditEntryViewSet, basename="audit")

urlpatterns = [
    *router.urls,
    path("tenants/<slug:slug>/access/", views.TenantAccessView.as_view(), name="tenant-access"),
]
