from rest_framework.routers import SimpleRouter

from tenants.api import views

router = SimpleRouter()
router.register("credentials", views.CredentialViewSet, basename="credential")
router.register("keys", views.ApiKeyViewSet, basename="apikey")

urlpatterns = router.urls
