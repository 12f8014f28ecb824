"""Monthly statements: a tenant-month billing period, its numbered statement, credit notes.

A `Statement` row is the period (open -> closing -> finalized) and, once finalized, the document
finance sends: its number, header, lines, counts and checksum are written in one transaction
and never change again (docs/billing.md). Corrections are documents of their own: late usage
lands on an adjustment line of a later statement, a refund on a `CreditNote`.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.money import MONEY_FIELD

# Line amounts before rounding: quantity x price per 1M (6 places) / 1M, and markup percent
# (2 places) on that, are exact at 16 places.
FULL_PRECISION_FIELD = {"max_digits": 34, "decimal_places": 16}
CENTS_FIELD = {"max_digits": 18, "decimal_places": 2}


class ImmutableRecordError(Exception):
    """A finalized statement, its lines and credit notes are never rewritten."""


class DocumentSequence(models.Model):
    """The platform's counter per document kind; locked in the transaction that issues a number,
    so a rolled-back issue gives its number back and numbers have no gaps."""

    name = models.CharField(max_length=32, primary_key=True)
    last = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.last}"


class Statement(models.Model):
    class Status(models.TextChoices):
        OPEN = "open"
        CLOSING = "closing"
        FINALIZED = "finalized"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    month = models.CharField(max_length=7)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    period_start = models.DateTimeField(help_text="The local month's first instant (UTC).")
    period_end = models.DateTimeField(help_text="Exclusive.")
    grace_ends_at = models.DateTimeField(help_text="Finalized automatically from then on.")
    currency = models.CharField(max_length=3, default="USD")
    number = models.CharField(max_length=40, null=True, blank=True, unique=True)
    sequence = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    finalized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    header = models.JSONField(default=dict, blank=True, help_text="Tenant details at issue.")
    markup_pct = models.DecimalField(max_digits=6, decimal_places=2, default=0)
    byok_request_fee_usd = models.DecimalField(default=0, **MONEY_FIELD)
    counts = models.JSONField(default=dict, blank=True)
    daily_spend = models.JSONField(default=list, blank=True)
    usage_cost_usd = models.DecimalField(default=0, **MONEY_FIELD)
    total_full = models.DecimalField(default=0, **FULL_PRECISION_FIELD)
    total = models.DecimalField(default=0, **CENTS_FIELD)
    rounding_difference = models.DecimalField(default=0, **FULL_PRECISION_FIELD)
    checksum_sha256 = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "month"], name="statement_tenant_month"),
            models.CheckConstraint(
                condition=Q(status="finalized", number__isnull=False)
                | ~Q(status="finalized") & Q(number__isnull=True),
                name="statement_number_iff_finalized",
            ),
        ]
        ordering = ["-month", "tenant_id"]

    def __str__(self) -> str:
        return self.number or f"{self.tenant_id} {self.month} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        if self.pk and Statement.objects.filter(pk=self.pk, status="finalized").exists():
            raise ImmutableRecordError("A finalized statement never changes.")
        super().save(*args, **kwargs)


class StatementLine(models.Model):
    """One line: a model x key source x token class at one unit price, or markup, a BYOK fee,
    the metering difference; `adjusts_month` set: a late correction of that earlier period."""

    class Kind(models.TextChoices):
        USAGE = "usage"
        METERING = "metering"
        MARKUP = "markup"
        BYOK_FEE = "byok_fee"

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    adjusts_month = models.CharField(max_length=7, blank=True, default="")
    description = models.CharField(max_length=300)
    model = models.CharField(max_length=260, blank=True, default="")
    provider = models.CharField(max_length=64, blank=True, default="")
    key_source = models.CharField(max_length=16, blank=True, default="")
    token_class = models.CharField(max_length=32, blank=True, default="")
    quantity = models.BigIntegerField(default=0)
    unit_price = models.DecimalField(null=True, blank=True, **FULL_PRECISION_FIELD)
    unit = models.CharField(max_length=16, blank=True, default="", help_text="per_1m, request")
    cost_usd = models.DecimalField(default=0, **FULL_PRECISION_FIELD)
    amount_full = models.DecimalField(default=0, **FULL_PRECISION_FIELD)
    amount = models.DecimalField(default=0, **CENTS_FIELD)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["statement", "position"], name="statementline_pos")
        ]
        ordering = ["statement_id", "position"]

    def __str__(self) -> str:
        return self.description

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            raise ImmutableRecordError("Statement lines never change.")
        super().save(*args, **kwargs)


class CreditNote(models.Model):
    """A numbered refund against a finalized statement (some of its lines, or an amount)."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="+")
    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=40, unique=True)
    sequence = models.PositiveBigIntegerField(unique=True)
    reason = models.CharField(max_length=500)
    currency = models.CharField(max_length=3, default="USD")
    total = models.DecimalField(**CENTS_FIELD)
    issued_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-sequence"]

    def __str__(self) -> str:
        return self.number

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            raise ImmutableRecordError("Credit notes never change.")
        super().save(*args, **kwargs)


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.PROTECT, related_name="lines")
    statement_line = models.ForeignKey(
        StatementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    description = models.CharField(max_length=300)
    amount = models.DecimalField(**CENTS_FIELD)

    class Meta:
        ordering = ["credit_note_id", "id"]

    def __str__(self) -> str:
        return self.description

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            raise ImmutableRecordError("Credit notes never change.")
        super().save(*args, **kwargs)
