"""What a web worker loads: the gateway's entry point must not pull in the libraries only other
processes use (bench/README.md, "RSS per worker": they were ~37 MiB of every worker's 144)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from celery.app.utils import find_app

import config.celery

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "tenants", "llm", "billing", "gateway", "console", "config")

# Only the Celery worker uses these: the PDF renderer (statements), numpy (the similarity cache,
# opt-in) and Celery itself.
NOT_IN_A_WEB_WORKER = ("celery", "kombu", "xhtml2pdf", "reportlab", "pypdf", "PIL", "numpy")


def test_the_asgi_entry_point_leaves_worker_only_libraries_unloaded():
    probe = (
        "import sys, config.asgi\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert "django" in loaded and "gateway" in loaded  # the probe did import the app
    assert loaded.isdisjoint(NOT_IN_A_WEB_WORKER), loaded & set(NOT_IN_A_WEB_WORKER)


def test_only_tasks_send_tasks():
    """A web process has no Celery app loaded, so a task sent from it would go to Celery's
    default broker: tasks may be sent only from task modules, which run in the worker."""
    sending = re.compile(r"\.(delay|apply_async|send_task)\(")
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "tests" not in path.parts
        and path.name != "tasks.py"
        and sending.search(path.read_text())
    ]
    assert offenders == []


def test_celery_dash_a_config_finds_the_app():
    assert find_app("config") is config.celery.app
