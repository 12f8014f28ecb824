"""Alert history: a budget's alerts with their webhook attempts, and the signing secret."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.models import AlertDelivery, BudgetAlert
from core.money import money_text


class AlertDeliverySerializer(serializers.ModelSerializer):
    """One webhook attempt: where (host only), how it ended, how long it took."""

    class Meta:
        model = AlertDelivery
        fields = [
            "attempt",
            "at",
            "url_host",
            "payload_format",
            "outcome",
            "status_code",
            "duration_ms",
        ]
        read_only_fields = fields


class BudgetAlertSerializer(serializers.ModelSerializer):
    """One alert delivery: the threshold crossed, when, where it went, and how it went."""

    spent_usd = serializers.SerializerMethodField()
    used_pct = serializers.SerializerMethodField()
    sent_to = serializers.SerializerMethodField()
    delivered = serializers.SerializerMethodField()
    deliveries = serializers.SerializerMethodField()

    class Meta:
        model = BudgetAlert
        fields = [
            "id",
            "budget",
            "end_user",
            "period_key",
            "threshold",
            "used_pct",
            "spent_usd",
            "tokens",
            "created_at",
            "sent_to",
            "webhook_sent_at",
            "email_sent_at",
            "delivery_attempts",
            "delivered",
            "last_error",
            "deliveries",
        ]
        read_only_fields = fields

    def get_spent_usd(self, alert) -> str:
        return money_text(alert.spent_usd, min_places=2)

    def get_used_pct(self, alert) -> str:
        return money_text(alert.used_pct, min_places=2)

    def get_sent_to(self, alert) -> list[str]:
        channels = [("webhook", alert.webhook_sent_at), ("email", alert.email_sent_at)]
        return [name for name, sent in channels if sent is not None]

    def get_delivered(self, alert) -> bool:
        return alert.webhook_sent_at is not None or alert.email_sent_at is not None

    @extend_schema_field(AlertDeliverySerializer(many=True))
    def get_deliveries(self, alert) -> list[dict]:
        """Webhook attempts, first first (prefetched by budget_alert_list)."""
        rows = sorted(alert.deliveries.all(), key=lambda d: (d.attempt, d.pk))
        return AlertDeliverySerializer(rows, many=True).data


class WebhookSecretSerializer(serializers.Serializer):
    """The new signing secret, shown once."""

    secret = serializers.CharField()
    header = serializers.CharField()
    rotated_at = serializers.DateTimeField()


class BudgetAlertPageSerializer(serializers.Serializer):
    """One page of a budget's alerts (the list's pagination, documented for the schema)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = BudgetAlertSerializer(many=True)
