"""Print a fresh `.env` for a local install: `python -m config.bootstrap_env > .env`."""

import secrets

from config.keygen import new_key

if __name__ == "__main__":
    print("DEBUG=true")
    print(f"SECRET_KEY={secrets.token_urlsafe(50)}")
    print(f"TOLLGATE_ENCRYPTION_KEYS={new_key()}")
