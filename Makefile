# syndicate: the habits, one command each. `make demo` and `make test` are all a new user needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install demo test test-corpora lint bench test-deps browser node-deps axe postgres wrk mjml-validate clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: install
	$(VENV)/bin/syndicate demo

# Debian's chromium for the browser tests (Playwright's own browser download does not work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The official MJML (node) validates the email templates strictly; mjml-python does not validate.
node-deps:
	@test -d tools/mjml-validate/node_modules || (cd tools/mjml-validate && npm ci --no-audit --no-fund --loglevel=error)

# axe-core, injected into chromium by tests/test_pages_browser.py to scan every page for accessibility.
axe:
	@test -f tools/axe/node_modules/axe-core/axe.min.js || (cd tools/axe && npm ci --no-audit --no-fund --loglevel=error)

# The machine's PostgreSQL: start it if it is installed and not running.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { \
	  command -v pg_ctlcluster >/dev/null && pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | head -1) main start; \
	  for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; }

test-deps: install browser node-deps axe postgres

# The click benchmark (bench/bench_clicks.py) loads `syndicate web` with Debian's wrk from a second process.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian's wrk for the click benchmark"; \
	  (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

mjml-validate: install node-deps
	PYTHON=$(PY) node tools/mjml-validate/validate.mjs

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: test-deps lint mjml-validate
	$(PY) -m pytest -q

# The corpus ingestion test over feeds kept outside the repository (licences that cannot be
# copied in): make test-corpora CORPORA=DIR. No folder given is an error, never a skip.
test-corpora: install
	@test -n "$(CORPORA)" || { echo "make test-corpora: CORPORA is not set. Give the folder of feeds and pages to ingest, e.g. make test-corpora CORPORA=../shared/corpora/realworld-feeds" >&2; exit 2; }
	@test -d "$(CORPORA)" || { echo "make test-corpora: CORPORA=$(CORPORA) is not a folder (from $$(pwd)). Give the folder of feeds and pages to ingest." >&2; exit 2; }
	@n=$$(find "$(CORPORA)" -type f ! -name LICENSE ! -name PROVENANCE.md ! -name README.md ! -name MANIFEST.csv | wc -l); \
	  test "$$n" -gt 0 || { echo "make test-corpora: CORPORA=$(CORPORA) holds no files to ingest." >&2; exit 2; }; \
	  echo "test-corpora: ingesting $$n files from $$(cd "$(CORPORA)" && pwd)"
	$(PY) -m pytest -q -p no:cacheprovider "tests/test_corpora.py::test_every_corpus_file_is_ingested_safely" --corpora "$(CORPORA)"

bench: install node-deps postgres wrk
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var outbox .prefect build .pytest_cache .ruff_cache
