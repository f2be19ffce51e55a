# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install run test test-fallback test-processes test-postgres test-sqlite lint schema bench lock audit services clean

# Every download is checked against the lock's hashes (setuptools included, for the build of
# the project itself); the project installs from this checkout with no download at all.
# uv (itself pinned with hashes in scripts/uv.lock) installs the lock in ~10 s where pip
# takes ~2.5 min on a fresh machine; pip does the same work when uv cannot run.
# Both compile the packages to bytecode once here: with PYTHONDONTWRITEBYTECODE set (as on
# this machine and in CI) every process would otherwise compile every module it imports
# (~1 s of CPU for `ncm`, paid by each CLI call, server and test process).
$(STAMP): requirements.lock pyproject.toml scripts/uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r scripts/uv.lock \
		&& $(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes --no-deps \
			--compile-bytecode -r requirements.lock \
		|| $(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## run: install, migrate the embedded SQLite database, seed the demo catalog once, serve
## (on HOST:PORT, 127.0.0.1:8000 unless given: `make run PORT=8101`).
run: install
	$(BIN)/ncm db upgrade
	$(BIN)/ncm seed demo --if-empty
	@echo "GraphiQL: http://$(HOST):$(PORT)/graphql   (the CLI: $(BIN)/ncm --help)"
	$(BIN)/ncm serve --host $(HOST) --port $(PORT)

## test: install, start PostgreSQL and Redis if needed, run the whole suite on both backends,
## then the API tests again with the hot path's own pieces off (test-fallback), then several
## processes against one PostgreSQL and Redis (test-processes).
# Each pass runs on every core (pytest-xdist; each worker has its own database and Redis
# database). TEST_WORKERS=1 runs one process. A module whose tests share servers is marked
# xdist_group, so its servers start on one worker only.
TEST_WORKERS ?= auto
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadgroup
# The checkout's own modules, compiled once (only what changed since the last run) for the
# ~40 processes the suite starts (servers, workers, CLI calls, xdist workers).
COMPILE := $(BIN)/python -m compileall -q -j 0 ncm bench migrations
test: install services
	$(COMPILE)
	$(PYTEST)
	NCM_TEST_BACKEND=sqlite $(PYTEST)
	$(MAKE) --no-print-directory test-fallback
	$(MAKE) --no-print-directory test-processes

# The schema tests, the GraphQL page tests and the middleware tests with graphql-core's own
# executor, every request through Strawberry's view and Starlette's router
# (NCM_FAST_EXECUTOR=0, docs/graphql.md: no lean lane): an
# upgrade that breaks the fast path is caught here and the fallback is proven; the pool
# releases through asyncpg's own shielded path (NCM_DB_LEAN_RELEASE=0, ncm.kit.pgpool).
API_TESTS := tests/schema tests/comments/test_graphql_pages.py tests/search/test_graphql.py \
	tests/catalog/test_catalog_api.py tests/playlists/test_graphql_playlists.py \
	tests/test_app.py tests/test_limits.py tests/test_origins.py
test-fallback: install services
	NCM_FAST_EXECUTOR=0 NCM_DB_LEAN_RELEASE=0 $(PYTEST) $(API_TESTS)

## test-processes: two `ncm serve` and two workers on one PostgreSQL and Redis, the last step of
## `make test` (docs/scaling.md, "Several processes").
test-processes: install services
	NCM_TEST_PROCESSES=1 $(BIN)/pytest -q -p no:cacheprovider tests/scale/test_processes.py

services:
	@bash scripts/ensure-services.sh
	@bash scripts/ensure-debian-package.sh chromium chromium "the GraphiQL browser test"
	@bash scripts/ensure-debian-package.sh pgbouncer /usr/sbin/pgbouncer "the connection-pooling test"

lint: install
	$(BIN)/ruff check ncm tests bench
	$(BIN)/ruff format --check ncm tests bench
	$(BIN)/mypy

schema: install
	$(BIN)/python -c "from ncm.schema.schema import sdl; open('schema.graphql','w').write(sdl())"

bench: install services
	$(BIN)/python -m bench --help

## lock: re-pin requirements.lock with hashes, without this machine's index lines.
lock:
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links \
		--allow-unsafe --all-build-deps --extra dev --strip-extras -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --no-emit-index-url --no-emit-find-links \
		--allow-unsafe -o scripts/uv.lock scripts/uv.in

## audit: pip-audit over the lock (its own venv); exit 2 "NOT AUDITED" when no database answers.
audit:
	test -x $(VENV)/audit/bin/python || $(PYTHON) -m venv $(VENV)/audit
	$(VENV)/audit/bin/python -m pip install --quiet pip-audit
	$(VENV)/audit/bin/python scripts/audit.py requirements.lock

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
