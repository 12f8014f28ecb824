from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway request path"

    def ready(self) -> None:
        # The snapshots' invalidation receivers connect here, next to what they invalidate, in
        # every process (web, worker, management commands), not only where the URLconf loads.
        from gateway.services.snapshots import connect_signals  # Django app loading: models ready

        connect_signals()
