"""Tenant-facing gateway routes (/v1/...)."""

from django.urls import path

from gateway import views

urlpatterns = [
    path("v1/chat/completions", views.chat_completions, name="v1-chat-completions"),
    path("v1/models", views.models, name="v1-models"),
]
