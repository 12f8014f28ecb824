"""Tenant-facing gateway routes (/v1/...)."""

from django.urls import path

from gateway import views

urlpatterns = [
    path("v1/chat/completions", views.chat_completions, name="v1-chat-completions"),
    path("v1/embeddings", views.embeddings, name="v1-embeddings"),
    path("v1/messages", views.messages, name="v1-messages"),
    path("v1/messages/count_tokens", views.messages_count, name="v1-messages-count-tokens"),
    path("v1/responses", views.responses, name="v1-responses"),
    path("v1/models", views.models, name="v1-models"),
]
