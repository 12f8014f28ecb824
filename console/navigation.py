"""Sidebar permission callbacks (named by import path in config/unfold.py)."""

from django.http import HttpRequest

from tenants.admin_scoping import is_operator


def operator_only(request: HttpRequest) -> bool:
    return is_operator(request)
