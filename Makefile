# Two commands do all set-up: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WEB_CONCURRENCY ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test lint format bench install audit clean soak

# Exactly the lock: every package (pip too) pinned with its hashes; a package that is not in the
# lock, or a file whose hash differs, fails the install. SECURITY.md: how to update the lock.
$(VENV)/.installed: requirements.lock requirements-dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

install: $(VENV)/.installed

# For operators, not CI: known vulnerabilities of the locked versions. pip-audit asks the PyPI
# vulnerability service, so it needs that network; it runs from its own venv under var/.
AUDIT_VENV := var/audit-venv
audit:
	test -x $(AUDIT_VENV)/bin/pip-audit || \
		{ $(PYTHON) -m venv $(AUDIT_VENV) && $(AUDIT_VENV)/bin/pip install --quiet pip-audit==2.10.1; }
	$(AUDIT_VENV)/bin/pip-audit --strict --require-hashes --disable-pip \
		-r requirements.lock -r requirements-dev.lock

.env: | $(VENV)/.installed
	$(PY) -m config.bootstrap_env > .env
	@echo "Wrote .env with a fresh SECRET_KEY and encryption key (keep it; it is git-ignored)."

run: $(VENV)/.installed .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_catalog
	$(PY) manage.py bootstrap_demo
	PORT=$(PORT) WEB_CONCURRENCY=$(WEB_CONCURRENCY) ./bin/serve

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	DJANGO_SETTINGS_MODULE=config.settings_test $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(VENV)/.installed
	./bench/run.sh

# Ten minutes of mixed traffic with a fault every minute, then its checks (bench/soak.py;
# SOAK_MINUTES=2 for a shorter one). Needs the local PostgreSQL and redis-server; not CI.
SOAK_MINUTES ?= 10
soak: $(VENV)/.installed
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) var staticfiles db.sqlite3*
