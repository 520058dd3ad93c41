# homepage: set up, serve and test the blog. `make help` lists the targets.

# Debian's Python, because Apache's unprivileged user must be able to read the
# interpreter that mod_wsgi embeds (a pyenv under /root is not readable).
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PROCESSES ?= 2
THREADS ?= 15
# Apache refuses to serve as root; this account serves when make runs as root.
SERVE_USER ?= www-data
SERVE_GROUP ?= www-data
FLASK := $(BIN)/flask --app homepage
AS_SERVER := $(if $(filter 0,$(shell id -u)),runuser -u $(SERVE_USER) --)
# The host names the site answers to (Flask's TRUSTED_HOSTS); a request for any
# other Host header gets 400, so nobody can make the pages link to their host.
# Serving on all interfaces? Name the machine too:
#   make run HOST=0.0.0.0 TRUSTED_HOSTS="blog.lan 192.168.1.20"
# (Werkzeug cannot match IPv6 addresses, so an IPv6 HOST is left out.)
TRUSTED_HOSTS ?= $(sort localhost 127.0.0.1 \
    $(if $(findstring :,$(HOST)),,$(filter-out 0.0.0.0,$(HOST))))
# Flask parses FLASK_-prefixed variables as JSON: ["localhost","127.0.0.1"].
comma := ,
empty :=
space := $(empty) $(empty)
TRUSTED_HOSTS_JSON = [$(subst $(space),$(comma),$(strip $(foreach host,$(TRUSTED_HOSTS),"$(host)")))]

.PHONY: help install system-deps run dev test test-sqlite test-postgresql test-fast lint format clean

help:
	@echo "make run    set everything up and serve on http://$(HOST):$(PORT)/ under Apache mod_wsgi"
	@echo "make dev    serve with Flask's debug server (reloads templates and code)"
	@echo "make test   install what the tests need and run the whole suite, on SQLite then on PostgreSQL"
	@echo "make test-fast  run the quick tests only: no Apache, browser, HTML validator, deploy or slow ones (< 30 s)"
	@echo "make lint   ruff check, ruff format --check and mypy"

system-deps:
	@bash scripts/system-deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# --no-cache-dir: a cached wheel may have been built for another Python.
$(BIN)/mod_wsgi-express: | $(BIN)/python
	$(BIN)/pip install -q --no-cache-dir 'mod_wsgi>=5.0'

install: system-deps $(VENV)/.installed $(BIN)/mod_wsgi-express

run: install
	@if [ "$$(id -u)" -eq 0 ] && ! runuser -u $(SERVE_USER) -- test -r homepage.wsgi; then \
	    echo "$(SERVE_USER) cannot read $(CURDIR), so Apache cannot serve it." >&2; \
	    echo "Clone the project into a folder it can read (e.g. under /srv or /tmp)." >&2; \
	    exit 1; \
	fi
	@# Password hashes, drafts, settings and the signing key stay closed to
	@# other local users; SQLite gives the -wal and -shm the database's mode.
	install -d -m 0750 instance
	chmod -f o= blog.db blog.db-wal blog.db-shm instance/secret_key instance/config.py || true
	@if [ "$$(id -u)" -eq 0 ]; then \
	    install -d -o $(SERVE_USER) -g $(SERVE_GROUP) -m 0750 instance; \
	    chgrp $(SERVE_GROUP) . && chmod g+rwx .; \
	    chown $(SERVE_USER):$(SERVE_GROUP) blog.db blog.db-wal blog.db-shm 2>/dev/null || true; \
	    chown $(SERVE_USER):$(SERVE_GROUP) instance/secret_key 2>/dev/null || true; \
	fi
	@# As root, as the serving user: here it may write instance/config.py,
	@# which root must never run (docs/deploy.md keeps it root's).
	$(AS_SERVER) $(FLASK) first-run
	@# Through a pipe: Apache reopens /dev/stderr, and when that is a file the
	@# server's output would overwrite it from the start, credentials and all.
	@# Every Apache worker starts up front and none is ever retired, as in the
	@# tests and the vhost: a retiring worker drops its idle keep-alive
	@# connections, and a browser sending on one sees the connection closed.
	FLASK_TRUSTED_HOSTS='$(TRUSTED_HOSTS_JSON)' $(BIN)/mod_wsgi-express start-server homepage.wsgi \
	    --host $(HOST) --port $(PORT) \
	    --processes $(PROCESSES) --threads $(THREADS) \
	    --url-alias /static static --locale C.UTF-8 \
	    --server-root $(CURDIR)/.mod_wsgi \
	    --initial-workers 1 --maximum-spare-workers 1 \
	    $$( [ "$$(id -u)" -eq 0 ] && echo --user $(SERVE_USER) --group $(SERVE_GROUP) ) \
	    --log-to-terminal 2>&1 | cat

dev: $(VENV)/.installed
	$(FLASK) first-run
	FLASK_TRUSTED_HOSTS='$(TRUSTED_HOSTS_JSON)' $(FLASK) run --debug --host $(HOST) --port $(PORT)

# The whole suite twice: on SQLite, then on a private PostgreSQL cluster the
# tests start themselves (tests/postgres.py). Each pass alone: make test-sqlite,
# make test-postgresql.
test: install
	$(BIN)/pytest
	HOMEPAGE_TEST_DATABASE=postgresql $(BIN)/pytest

test-sqlite: install
	$(BIN)/pytest

test-postgresql: install
	HOMEPAGE_TEST_DATABASE=postgresql $(BIN)/pytest

# The quick part of the suite, for the edit-test loop; CI runs `make test`.
test-fast: $(VENV)/.installed
	$(BIN)/pytest -m "not apache and not validator and not slow and not deploy and not browser"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .mod_wsgi .pytest_cache .ruff_cache .mypy_cache *.egg-info
