from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM catalog and routing"

    def ready(self) -> None:
        # Django app loading: models are importable only once apps are ready.
        from llm.models import RoutingConfig
        from tenants.audit import audit_register

        audit_register(RoutingConfig, object_type="routing_config")
