"""`{{ value|money }}`: a cost as exact text with at least two places ($0.0065, not $0.01)."""

from django import template

from core.money import money_text

register = template.Library()


@register.filter(name="money")
def money(value) -> str:
    return money_text(value, min_places=2) or ""
