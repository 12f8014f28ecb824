from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from llm.api import views

router = SimpleRouter()
router.register("providers", views.ProviderViewSet, basename="provider")
router.register("configs", views.RoutingConfigViewSet, basename="config")

_model_list = views.LLMModelViewSet.as_view({"get": "list", "post": "create"})
_model_detail = views.LLMModelViewSet.as_view(
    {"get": "retrieve", "put": "update", "patch": "partial_update", "delete": "destroy"}
)

urlpatterns = [
    # Before the router: `providers/<slug>/` would take "health" for a provider's slug.
    path(
        "providers/health/",
        views.ProviderHealthViewSet.as_view({"get": "list"}),
        name="provider-health",
    ),
    *router.urls,
    path("models/", _model_list, name="llmmodel-list"),
    # A model id is `provider/model_id` and may itself contain slashes.
    re_path(r"^models/(?P<model_ref>[\s\S]+)/$", _model_detail, name="llmmodel-detail"),
]
