"""Generate a monthly billing export (a new version) for a tenant or for every tenant."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.exports import export_create
from core.errors import InvalidRequest
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create a billing export for MONTH (YYYY-MM); --tenant SLUG, or all tenants in one file."

    def add_arguments(self, parser):
        parser.add_argument("month")
        parser.add_argument("--tenant", help="Tenant slug; omit for the operator export.")

    def handle(self, *args, month, tenant=None, **options):
        owner = None
        if tenant:
            owner = Tenant.objects.filter(slug=tenant).first()
            if owner is None:
                raise CommandError(f"No tenant {tenant!r}.")
        try:
            export = export_create(tenant=owner, month=month)
        except InvalidRequest as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"{export} rows={export.row_count} cost_usd={export.total_cost_usd} "
            f"sha256={export.checksum_sha256}"
        )
        self.stdout.write(export.file_name)
