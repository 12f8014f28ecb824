"""Print a new encryption key for TOLLGATE_ENCRYPTION_KEYS: `python -m config.keygen`."""

import base64
import os


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


if __name__ == "__main__":
    print(new_key())
