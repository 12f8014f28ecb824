"""The delivery log of budget alerts: one row per webhook attempt, kept for the tenant to see."""

from django.db import models


class AlertDelivery(models.Model):
    """One attempt to deliver an alert to the tenant's webhook: where (the host only, never the
    path or query, which may carry a receiver's token), how it ended and how long it took."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered"
        HTTP_ERROR = "http_error"  # the receiver answered with a non-2xx status
        TIMEOUT = "timeout"
        CONNECT_ERROR = "connect_error"
        TRANSPORT_ERROR = "transport_error"
        REFUSED_URL = "refused_url"  # the URL failed the SSRF check; nothing was sent

    alert = models.ForeignKey(
        "billing.BudgetAlert", on_delete=models.CASCADE, related_name="deliveries"
    )
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    attempt = models.PositiveIntegerField()
    url_host = models.CharField(max_length=255, blank=True, default="")
    payload_format = models.CharField(max_length=16, default="json")
    outcome = models.CharField(max_length=32, choices=Outcome.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["alert", "attempt"], name="alertdelivery_alert_attempt")]

    def __str__(self) -> str:
        return f"alert {self.alert_id} attempt {self.attempt}: {self.outcome}"
