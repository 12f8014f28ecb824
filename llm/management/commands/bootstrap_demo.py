import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from llm.models import RoutingConfig
from llm.selectors import model_resolve
from tenants.models import Membership
from tenants.selectors import tenant_get
from tenants.services import api_key_create, membership_set, tenant_create


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant, an operator and a tenant admin; print logins."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        operator_password = secrets.token_urlsafe(12)
        operator, _ = User.objects.get_or_create(username="admin")
        operator.is_staff = operator.is_superuser = True
        operator.set_password(operator_password)
        operator.save()

        tenant = tenant_get(slug="demo") or tenant_create(slug="demo", name="Demo Company")
        tenant_admin_password = secrets.token_urlsafe(12)
        tenant_admin, _ = User.objects.get_or_create(username="demo-admin")
        tenant_admin.is_staff = True
        tenant_admin.set_password(tenant_admin_password)
        tenant_admin.save()
        membership_set(tenant=tenant, user=tenant_admin, role=Membership.Role.OWNER)

        if model_resolve(ref="openai/gpt-4o-mini") and not tenant.routing_configs.exists():
            config = RoutingConfig(
                tenant=tenant,
                name="default",
                is_default=True,
                primary_model="openai/gpt-4o-mini",
                fallback_models=["anthropic/claude-haiku-4-5"],
            )
            config.full_clean()
            config.save()

        _, secret = api_key_create(
            tenant=tenant, scopes=["inference", "read", "manage"], name="demo"
        )
        self.stdout.write("Operator login:      admin / " + operator_password)
        self.stdout.write("Tenant admin login:  demo-admin / " + tenant_admin_password)
        self.stdout.write("Demo API key (tenant 'demo', shown once):")
        self.stdout.write(secret)
