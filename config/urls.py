from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("console.urls")),
    path("", include("gateway.urls")),
    path("api/", include("config.api_urls")),
]
