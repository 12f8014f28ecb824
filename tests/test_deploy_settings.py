"""The production settings (config.settings, DEBUG off), each in a fresh process with its own
environment: `check --deploy` is clean, HTTPS defaults switch off for plain-http local runs,
and weak or published secrets stop the start without being echoed."""

import ast
import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.keygen import new_key

ROOT = Path(__file__).resolve().parent.parent
STRONG_SECRET_KEY = secrets.token_urlsafe(50)
STRONG_KEY = new_key()
SETTINGS_PROBE = (
    "import json, config.settings as s; print(json.dumps({name: getattr(s, name) for name in "
    "['SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER']}))"
)


def run(args: list[str], **variables: str) -> subprocess.CompletedProcess:
    """`python ARGS` in the project root with only these variables (and PATH) set."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": STRONG_SECRET_KEY,
        "TOLLGATE_ENCRYPTION_KEYS": STRONG_KEY,
        "ALLOWED_HOSTS": "gateway.example.com",
        **variables,
    }
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def effective(**variables: str) -> dict:
    result = run(["-c", SETTINGS_PROBE], **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def settings_test_values() -> dict[str, str]:
    """The secrets config/settings_test.py sets (os.environ.setdefault calls), read from its
    source, so a new test value there must be refused here too."""
    tree = ast.parse((ROOT / "config" / "settings_test.py").read_text())
    values = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "setdefault":
            name, value = (getattr(arg, "value", None) for arg in node.args[:2])
            if isinstance(name, str) and isinstance(value, str):
                values[name] = value
    return values


def test_check_deploy_is_clean_for_the_production_settings():
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_defaults_are_https_only():
    assert effective() == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_PROXY_SSL_HEADER": None,
    }


@pytest.mark.parametrize("variables", [{"DEBUG": "true"}, {"TOLLGATE_PLAIN_HTTP": "true"}])
def test_debug_or_plain_http_turns_the_https_defaults_off(variables):
    values = effective(**variables)
    assert not values["SECURE_SSL_REDIRECT"] and not values["SESSION_COOKIE_SECURE"]
    assert not values["CSRF_COOKIE_SECURE"] and values["SECURE_HSTS_SECONDS"] == 0


def test_each_https_setting_can_be_set_on_its_own():
    values = effective(
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="3600",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
    )
    assert values["SECURE_SSL_REDIRECT"] is False and values["SECURE_HSTS_SECONDS"] == 3600
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    result = run(["-c", "import config.settings"], SECURE_PROXY_SSL_HEADER="X_FORWARDED_PROTO")
    assert "SECURE_PROXY_SSL_HEADER must be HEADER,value" in result.stderr


def _weak_secret_keys() -> list[tuple[str, str]]:
    return [
        (secrets.token_urlsafe(36)[:49], "shorter than 50"),
        ("ab" * 40, "fewer than 5 distinct"),
        ("django-insecure-" + secrets.token_urlsafe(50), "published"),
        ("insecure-dev-only-secret-key", "published"),
        (settings_test_values()["SECRET_KEY"], "published"),
    ]


@pytest.mark.parametrize(("secret_key", "problem"), _weak_secret_keys())
def test_weak_or_published_secret_keys_are_refused(secret_key, problem):
    result = run(["-c", "import config.settings"], SECRET_KEY=secret_key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and problem in result.stderr
    assert secret_key not in result.stderr + result.stdout


def _weak_encryption_keys() -> list[tuple[str, str]]:
    b64 = base64.urlsafe_b64encode
    return [
        (settings_test_values()["TOLLGATE_ENCRYPTION_KEYS"], "entry 1 is a published"),
        (b64(os.urandom(16)).decode(), "entry 1 is 16 bytes"),
        (b64(bytes(32)).decode(), "entry 1 is a published"),
        (b64(bytes([7]) * 32).decode(), "entry 1 does not look random"),
        (b64(b"correct horse battery staple 123").decode(), "entry 1 does not look random"),
        ("not base64 at all!", "entry 1 is not base64"),
        (f"{STRONG_KEY},{b64(bytes(range(8)) * 4).decode()}", "entry 2 does not look random"),
    ]


@pytest.mark.parametrize(("keys", "problem"), _weak_encryption_keys())
def test_encryption_keys_that_are_not_32_random_bytes_are_refused(keys, problem):
    result = run(["-c", "import config.settings"], TOLLGATE_ENCRYPTION_KEYS=keys)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and problem in result.stderr
    for key in keys.split(","):
        assert key not in result.stderr + result.stdout


def test_every_problem_is_named_at_once():
    result = run(
        ["-c", "import config.settings"],
        SECRET_KEY="short",
        TOLLGATE_ENCRYPTION_KEYS=base64.urlsafe_b64encode(bytes(16)).decode(),
    )
    assert "SECRET_KEY is shorter" in result.stderr and "entry 1 is 16 bytes" in result.stderr


def test_debug_accepts_development_secrets():
    result = run(
        ["-c", "import config.settings"],
        DEBUG="true",
        SECRET_KEY="dev",
        TOLLGATE_ENCRYPTION_KEYS=settings_test_values()["TOLLGATE_ENCRYPTION_KEYS"],
    )
    assert result.returncode == 0, result.stderr


def test_the_env_that_make_run_writes_passes_with_debug_off():
    written = run(["-m", "config.bootstrap_env"])
    assert written.returncode == 0, written.stderr
    variables = dict(line.split("=", 1) for line in written.stdout.splitlines())
    assert variables["DEBUG"] == "true"  # make run serves plain http on 127.0.0.1
    again = dict(line.split("=", 1) for line in run(["-m", "config.bootstrap_env"]).stdout.split())
    assert again["SECRET_KEY"] != variables["SECRET_KEY"]
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        SECRET_KEY=variables["SECRET_KEY"],
        TOLLGATE_ENCRYPTION_KEYS=variables["TOLLGATE_ENCRYPTION_KEYS"],
    )
    assert result.returncode == 0, result.stdout + result.stderr
