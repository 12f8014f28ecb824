"""Billing exports: one versioned, never-changed monthly CSV per row."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.money import MONEY_FIELD


class BillingExport(models.Model):
    """One version of a month's billing CSV for a tenant (or every tenant, tenant=None). A
    regeneration is a new row and a new file; a file once written is never changed."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    tenant = models.ForeignKey(
        "tenants.Tenant", null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    month = models.CharField(max_length=7)
    version = models.PositiveIntegerField()
    scheduled = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    file_name = models.CharField(max_length=300, blank=True, default="")
    summary_file_name = models.CharField(max_length=300, blank=True, default="")
    checksum_sha256 = models.CharField(max_length=64, blank=True, default="")
    row_count = models.PositiveIntegerField(default=0)
    total_cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    summary = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "month", "version"],
                condition=Q(tenant__isnull=False),
                name="billingexport_tenant_version",
            ),
            models.UniqueConstraint(
                fields=["month", "version"],
                condition=Q(tenant__isnull=True),
                name="billingexport_all_version",
            ),
            models.UniqueConstraint(
                fields=["tenant", "month"],
                condition=Q(scheduled=True, tenant__isnull=False),
                name="billingexport_one_scheduled",
            ),
        ]
        ordering = ["-month", "-version", "-id"]

    def __str__(self) -> str:
        owner = self.tenant.slug if self.tenant_id else "all tenants"
        return f"{owner} {self.month} v{self.version}"
