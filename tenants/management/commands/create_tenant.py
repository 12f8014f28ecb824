from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--timezone", default="UTC")

    def handle(self, *args, slug: str, name: str, timezone: str, **options):
        try:
            tenant = tenant_create(slug=slug, name=name, timezone_name=timezone)
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            ) from exc
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}, {tenant.timezone}).")
