# One gate: `make check`. The README's two commands: `make demo` and `make check`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install system-deps python-deps web demo test check lint format typecheck bench postgres redis

install: system-deps python-deps web

# Debian's chromium for the browser tests (Playwright drives it; it never downloads a browser),
# and Redis for the live-event tests through Redis (REDIS_URL).
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will fail"; }
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing Debian redis-server"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) \
	  || echo "warning: could not install redis-server; the Redis fan-out tests will fail"; }

python-deps: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

web:
	@if [ -f web/package.json ]; then \
	  cd web && (test -d node_modules || npm ci --no-audit --no-fund --loglevel=error) && npm run build --silent; \
	fi

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1

# The live-event tests through Redis (REDIS_URL) need one on loopback: start it if it is not up.
redis:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
	@for i in $$(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
	  echo "Redis did not start on 127.0.0.1:6379" >&2; exit 1

# The demo needs no browser: only the tests install chromium.
demo: python-deps web
	$(VENV)/bin/smart-support demo

test: install postgres redis
	cd web && npm test --silent
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=80 $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/ruff check src tests bench

format:
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

typecheck:
	$(VENV)/bin/mypy

check: install lint typecheck test

bench: install postgres
	$(PY) bench/engine_turns.py
	$(PY) bench/routing_accuracy.py
	$(PY) bench/mcp_sessions.py
	$(PY) bench/openapi_import.py
	$(PY) bench/classification.py
	$(PY) bench/ws_concurrency.py
