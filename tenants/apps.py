from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from tenants.audit import audit_register_tenant_models  # Django app loading

        audit_register_tenant_models()
