from django.urls import path

from gateway.api import views

urlpatterns = [
    path("route/preview/", views.RoutePreviewView.as_view(), name="route-preview"),
]
