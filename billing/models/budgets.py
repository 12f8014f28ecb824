"""Budgets, the alerts they fire, and the database counters (and holds) that enforce them."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from core.money import MONEY_FIELD

END_USER_MAX_CHARS = 128  # the gateway's bound on an end user id (contract: at most 128)
EACH_END_USER = "*"  # a user budget that applies to each end user separately


def validate_alert_thresholds(value) -> None:
    """A list of distinct whole percentages in 1..1000 (over 100 alerts on overspend of soft
    budgets)."""
    if not isinstance(value, list):
        raise ValidationError("Must be a list of percentages.")
    seen = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= 1000:
            raise ValidationError(f"{item!r} is not a whole percentage between 1 and 1000.")
        if item in seen:
            raise ValidationError(f"{item} is listed twice.")
        seen.add(item)


class Budget(models.Model):
    """A spend or token limit for a tenant, one of its routing configs, one of its API keys or
    its end users, per day or per month in the tenant's time zone. `strict` blocks at the
    limit, `soft` only counts and alerts. A user budget is a template: `end_user` names one end
    user, or "*" for each end user separately (each has its own counter)."""

    class Scope(models.TextChoices):
        TENANT = "tenant"
        CONFIG = "config"
        KEY = "key"
        USER = "user"

    class Period(models.TextChoices):
        DAILY = "daily"
        MONTHLY = "monthly"

    class Mode(models.TextChoices):
        STRICT = "strict"
        SOFT = "soft"

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="budgets")
    scope = models.CharField(max_length=16, choices=Scope.choices, default=Scope.TENANT)
    config = models.ForeignKey(
        "llm.RoutingConfig", null=True, blank=True, on_delete=models.CASCADE, related_name="budgets"
    )
    api_key = models.ForeignKey(
        "tenants.TenantApiKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
    )
    end_user = models.CharField(
        max_length=END_USER_MAX_CHARS,
        blank=True,
        default="",
        help_text='User budgets: the end user id, or "*" for each end user separately.',
    )
    period = models.CharField(max_length=16, choices=Period.choices)
    limit_usd = models.DecimalField(
        max_digits=14,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(0))],
    )
    limit_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.STRICT)
    alert_thresholds = models.JSONField(
        default=list, blank=True, validators=[validate_alert_thresholds]
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug", "scope", "period", "id"]
        indexes = [models.Index(fields=["tenant", "is_active"], name="budget_tenant_active")]

    def __str__(self) -> str:
        return f"{self.period} {self.mode} budget for {self.scope_label}"

    @property
    def scope_label(self) -> str:
        if self.scope == self.Scope.CONFIG and self.config_id:
            return f"config '{self.config.name}'"
        if self.scope == self.Scope.KEY and self.api_key_id:
            return f"key '{self.api_key.name}'"
        if self.scope == self.Scope.USER:
            return (
                "each end user" if self.end_user == EACH_END_USER else f"end user '{self.end_user}'"
            )
        return "tenant"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.limit_usd is None and self.limit_tokens is None:
            errors["limit_usd"] = "Set limit_usd, limit_tokens or both."
        if self.scope == self.Scope.CONFIG:
            if not self.config_id:
                errors["config"] = "A config budget needs a routing config."
            elif self.tenant_id and self.config.tenant_id != self.tenant_id:
                errors["config"] = "The routing config belongs to another tenant."
        elif self.config_id:
            errors["config"] = "Only a config budget names a routing config."
        if self.scope == self.Scope.KEY:
            if not self.api_key_id:
                errors["api_key"] = "A key budget needs an API key."
            elif self.tenant_id and self.api_key.tenant_id != self.tenant_id:
                errors["api_key"] = "The API key belongs to another tenant."
        elif self.api_key_id:
            errors["api_key"] = "Only a key budget names an API key."
        error = _end_user_error(self.scope == self.Scope.USER, self.end_user)
        if error:
            errors["end_user"] = error
        if isinstance(self.alert_thresholds, list) and all(
            isinstance(t, int) for t in self.alert_thresholds
        ):
            self.alert_thresholds = sorted(self.alert_thresholds)
        if errors:
            raise ValidationError(errors)


def _end_user_error(is_user_scope: bool, end_user: str) -> str:
    """Why `end_user` does not fit the scope ("" when it does): the gateway's own rule for ids."""
    if not is_user_scope:
        return "Only a user budget names an end user." if end_user else ""
    if not end_user or not end_user.strip():
        return 'A user budget needs an end user id, or "*" for each end user.'
    if end_user != end_user.strip() or not end_user.isprintable():
        return "An end user id is printable text without surrounding spaces."
    if len(end_user) > END_USER_MAX_CHARS:
        return f"An end user id has at most {END_USER_MAX_CHARS} characters."
    return ""


class BudgetAlert(models.Model):
    """A threshold crossed in one period. The unique row makes each alert fire once per period."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    end_user = models.CharField(
        max_length=END_USER_MAX_CHARS,
        blank=True,
        default="",
        help_text="User budgets: the end user whose spend crossed the threshold.",
    )
    period_key = models.CharField(max_length=16, help_text="2026-11 or 2026-11-22 (tenant time).")
    threshold = models.PositiveIntegerField()
    used_pct = models.DecimalField(max_digits=10, decimal_places=2)
    spent_usd = models.DecimalField(default=0, **MONEY_FIELD)
    tokens = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_key", "threshold", "end_user"],
                name="budgetalert_once_per_period_user",
            )
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.threshold}% of budget {self.budget_id} in {self.period_key}"


class BudgetCounter(models.Model):
    """Database counter for one (scope, period) of a tenant: the embedded default's counter and
    the fallback when Redis is unreachable. Integer micro-dollars, like the Redis counters.
    Its row lock serialises every reserve and settle on it."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=120, unique=True)
    spent_micros = models.BigIntegerField(default=0)
    spent_tokens = models.BigIntegerField(default=0)
    seeded_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key


class BudgetHold(models.Model):
    """One reservation's hold on one database counter. Held amounts are summed over unexpired
    holds, so a hold whose process died stops counting when it expires."""

    reservation_id = models.CharField(max_length=40, db_index=True)
    counter = models.ForeignKey(BudgetCounter, on_delete=models.CASCADE, related_name="holds")
    micros = models.BigIntegerField()
    tokens = models.BigIntegerField()
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["counter", "expires_at"], name="budgethold_counter_exp")]

    def __str__(self) -> str:
        return f"{self.reservation_id} on {self.counter_id}"
