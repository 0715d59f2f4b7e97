# Two commands matter: `make run` and `make test`. Everything else is what they are made of.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= local,semantic,dev,bench,ops
# `make bench` runs everything but the peers (the quick corpus; `SIZE=full` took 22 minutes
# here); `make bench-peers` runs the peers alone (about 20 minutes on quick, in their own
# virtualenv, which it builds first if needed: a minute or two here, `make peers-venv` alone).
SIZE ?= quick
STAMP := $(VENV)/.installed

# Scripts shellcheck reads; YAML is found by yamllint itself (.yamllint.yml)
SCRIPTS := .ci/run $(wildcard deploy/*.sh)

.PHONY: run test install lint typecheck ops-check unit bench bench-peers peers-venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned, so nothing can make pip resolve a newer multi-GB build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports importlinter.ini

typecheck: $(STAMP)
	$(BIN)/mypy

# Prometheus config and rules (with their unit tests), YAML and shell scripts under deploy/.
# Each tool that is not installed is skipped with a message; .ci/run installs them all.
ops-check:
	@if command -v promtool >/dev/null; then \
	  promtool check config deploy/prometheus/prometheus.yml && \
	  promtool check rules deploy/prometheus/rules.yml && \
	  promtool test rules deploy/prometheus/tests/*.yml; \
	else echo "ops-check: promtool not installed, Prometheus rules not checked"; fi
	@if command -v yamllint >/dev/null; then yamllint --strict .; \
	else echo "ops-check: yamllint not installed, YAML not checked"; fi
	@if command -v shellcheck >/dev/null; then shellcheck $(SCRIPTS); \
	else echo "ops-check: shellcheck not installed, scripts not checked"; fi

test: lint typecheck ops-check
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

run: $(STAMP)
	$(BIN)/python -m worker demo

bench: $(STAMP)
	$(BIN)/python -m bench --size $(SIZE)

bench-peers: $(STAMP)
	$(BIN)/python -m bench --size $(SIZE) --only peers

# The peers' own virtualenv (bench/out/peers-venv, from bench/peers/requirements.txt): they cap
# SQLAlchemy and pgvector below the project's, so they never go into $(VENV).
peers-venv: $(STAMP)
	$(BIN)/python -m bench.peer_venv

clean:
	rm -rf $(VENV) var
