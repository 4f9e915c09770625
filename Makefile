# FinOps Console. `make demo` to look at it, `make test` to prove it. Needs only Python 3.11 to start.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

# make test runs on real PostgreSQL and Redis (started if installed and down).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/finops
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# A test database per checkout, so two checkouts can run their suites against one server at the same time.
FINOPS_TEST_DB_NAME ?= test_finops_$(shell pwd | cksum | cut -d' ' -f1)
TEST_ENV := FINOPS_ENV=test DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	FINOPS_TEST_DB_NAME=$(FINOPS_TEST_DB_NAME) \
	CELERY_BROKER_URL=$(TEST_REDIS_URL) CELERY_TASK_ALWAYS_EAGER=true

# The demo's sandbox partners and the hub's connections to them share these (credentials_env in the demo config).
DEMO_ENV := FINOPS_SANDBOX_ROOT=$${FINOPS_SANDBOX_ROOT:-$(CURDIR)/var/sandbox} \
	FINOPS_DEMO_ERP_CLOUD='{"client_id": "finops-hub", "client_secret": "demo-erp-cloud-secret-2026"}' \
	FINOPS_DEMO_CONCUR='{"client_id": "finops-hub", "client_secret": "demo-concur-secret-2026"}'

.PHONY: install demo serve test test-fast services chromium worker beat bench check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py sandbox_setup --bank DEUT:DEUTDEFFXXX:DE89370400440532013000,DE65100700000123456789 \
		--name "Sandbox Deutsche Bank" --balance 2500000
	$(DEMO_ENV) $(BIN)/python manage.py sandbox_partners_setup
	$(DEMO_ENV) $(BIN)/python manage.py demo_load
	@$(BIN)/python manage.py demo_users
	$(DEMO_ENV) $(BIN)/python manage.py runserver --noreload 127.0.0.1:8000

services:
	@bash scripts/ensure-services.sh

chromium:
	@bash scripts/ensure-chromium.sh

test: install services chromium
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install services
	$(TEST_ENV) $(BIN)/python -m pytest -m "not browser" $(PYTEST_ARGS)

worker: install
	$(BIN)/celery -A finops worker --loglevel=INFO -Q default,connectors,payments,statements,expenses,events

beat: install
	$(BIN)/celery -A finops beat --loglevel=INFO

bench: install services
	$(TEST_ENV) $(BIN)/python bench/run.py

check: install
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf $(VENV) var .pytest_cache
