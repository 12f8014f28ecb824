"""`manage.py load_catalog`: load our catalog file, or refresh prices from LiteLLM's map.

A load overwrites only the fields the file sets; fields it leaves out keep their admin edits.
Models missing from the file are kept (deactivated only with --deactivate-missing).
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from llm.services.catalog_changes import CatalogReport
from llm.services.catalog_file import CATALOG_PATH, CatalogInvalid
from llm.services.catalog_load import catalog_load
from llm.services.litellm_prices import catalog_refresh_from_litellm


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = "Load or update the provider/model catalog (idempotent), or refresh its prices."

    def add_arguments(self, parser):
        parser.add_argument("--file", help=f"Catalog file in our format (default {CATALOG_PATH}).")
        parser.add_argument(
            "--from-litellm",
            metavar="FILE",
            help="Refresh prices/limits of catalog models from LiteLLM's "
            "model_prices_and_context_window(_backup).json instead of loading our file.",
        )
        parser.add_argument(
            "--add-new",
            action="store_true",
            help="With --from-litellm: also add chat models LiteLLM lists for our providers.",
        )
        parser.add_argument(
            "--deactivate-missing",
            action="store_true",
            help="Deactivate providers and models that are not in the file (never deletes).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )

    def handle(self, *args, **options):
        verbose = options["verbosity"] >= 1
        progress = self.stdout.write if verbose else None
        if options["add_new"] and not options["from_litellm"]:
            raise CommandError("--add-new only applies with --from-litellm.")
        report = CatalogReport()
        try:
            with transaction.atomic():
                if options["from_litellm"]:
                    report = catalog_refresh_from_litellm(
                        path=options["from_litellm"], add_new=options["add_new"], progress=progress
                    )
                else:
                    report = catalog_load(
                        path=options["file"],
                        deactivate_missing=options["deactivate_missing"],
                        progress=progress,
                    )
                if options["dry_run"]:
                    raise _DryRun
        except CatalogInvalid as exc:
            raise CommandError("\n".join(["Invalid catalog:", *exc.errors])) from exc
        except _DryRun:
            pass
        if not verbose:
            return
        for line in report.changes:
            self.stdout.write(f"  {line}")
        for line in report.warnings:
            self.stderr.write(f"  warning: {line}")
        prefix = "Dry run, nothing written. " if options["dry_run"] else ""
        self.stdout.write(f"{prefix}Catalog {report.summary()}.")
        if report.changed:
            self.stdout.write(self.style.SUCCESS("Catalog updated."))
        else:
            self.stdout.write("No changes.")
