"""Tenant-facing gateway routes (/v1/...)."""

urlpatterns: list = []
