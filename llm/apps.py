from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "llm"
    verbose_name = "LLM catalog and routing"

    def ready(self) -> None:
        # Connects the signals that invalidate the gateway's in-process snapshots, in every
        # process (web, worker, management commands), not only where the URLconf loads.
        import llm.services.auth_cache  # noqa: F401
