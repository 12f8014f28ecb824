from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Usage and billing"

    def ready(self) -> None:
        from billing.services.budget_specs import budget_cache_connect_signals  # Django app loading

        budget_cache_connect_signals()

        from billing.models import Budget  # Django app loading
        from tenants.audit import audit_register

        audit_register(Budget, object_type="budget")

        from billing.models import CreditNote  # Django app loading

        audit_register(CreditNote, object_type="credit_note")
