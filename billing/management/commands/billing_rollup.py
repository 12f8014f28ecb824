"""Roll up usage now (the periodic task does the same): daily buckets, then the months."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.rollups import rollups_refresh_all, rollups_refresh_tenant
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Recompute daily and monthly usage rollups (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args, tenant=None, **options):
        if tenant:
            found = Tenant.objects.filter(slug=tenant).first()
            if found is None:
                raise CommandError(f"No tenant {tenant!r}.")
            written = rollups_refresh_tenant(tenant=found)
        else:
            written = rollups_refresh_all()
        self.stdout.write(f"{written} rollup buckets written")
