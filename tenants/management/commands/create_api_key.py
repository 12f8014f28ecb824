from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.selectors import tenant_get
from tenants.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant; the secret is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--scopes", default="inference", help="e.g. inference,read,manage")
        parser.add_argument("--name", default="default")

    def handle(self, *args, slug: str, scopes: str, name: str, **options):
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant {slug!r}.")
        try:
            key, secret = api_key_create(
                tenant=tenant, scopes=[s.strip() for s in scopes.split(",") if s.strip()], name=name
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            f"Created API key {key.prefix}… for {tenant.slug} with scopes {key.scopes}."
        )
        self.stdout.write("The secret is shown once:")
        self.stdout.write(secret)
