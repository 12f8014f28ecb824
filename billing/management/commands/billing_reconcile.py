"""Recompute every finalized statement of MONTH from the raw events; exit 1 on any difference."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.reconcile import billing_reconcile
from core.errors import InvalidRequest


class Command(BaseCommand):
    help = "Tie out MONTH's (YYYY-MM) finalized statements against the raw usage events."

    def add_arguments(self, parser):
        parser.add_argument("month")

    def handle(self, *args, month, **options):
        try:
            checked, differences = billing_reconcile(month=month)
        except InvalidRequest as exc:
            raise CommandError(exc.message) from exc
        for difference in differences:
            self.stdout.write(difference.describe())
        self.stdout.write(f"{checked} statement(s) checked, {len(differences)} difference(s).")
        if differences:
            raise CommandError("Statements differ from the raw events.", returncode=1)
