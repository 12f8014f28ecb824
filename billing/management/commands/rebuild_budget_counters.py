"""Bring the budget counters up to the database truth (the periodic task does the same)."""

from django.core.management.base import BaseCommand

from billing.services.counters_rebuild import counters_rebuild


class Command(BaseCommand):
    help = "Rebuild budget counters (Redis, or database counters) from rollups and events."

    def handle(self, *args, **options):
        self.stdout.write(f"{counters_rebuild()} counters checked")
