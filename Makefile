# Two commands do all set-up: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
WEB_CONCURRENCY ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test lint format bench install clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

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

clean:
	rm -rf $(VENV) var staticfiles db.sqlite3*
