"""Serializer fields shared by the management API's apps."""

from decimal import Decimal

from rest_framework import serializers

from core.money import money_text


class MoneyField(serializers.DecimalField):
    """An amount or a price as the contract shows it: an exact decimal string with at least two
    places ("0.15", "0.075", "12.50"), never negative; up to six places accepted."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_digits", 14)
        kwargs.setdefault("decimal_places", 6)
        kwargs.setdefault("min_value", Decimal(0))
        super().__init__(**kwargs)

    def to_representation(self, value):
        return None if value is None else money_text(Decimal(value), min_places=2)
