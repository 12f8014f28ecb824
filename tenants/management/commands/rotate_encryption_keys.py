from django.core.management.base import BaseCommand, CommandError

from core.errors import SecretDecryptionError
from tenants.services import credentials_rotate_encryption
from tenants.webhook_secrets import webhook_secrets_rotate_encryption


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the newest key in TOLLGATE_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        try:
            rotated, total = credentials_rotate_encryption()
            hooks_rotated, hooks_total = webhook_secrets_rotate_encryption()
            rotated, total = rotated + hooks_rotated, total + hooks_total
        except SecretDecryptionError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Re-encrypted {rotated} of {total} secrets with the newest key.")
