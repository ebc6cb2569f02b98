# The two commands a new user runs: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
# The BI tool (Superset) has its own virtualenv: its pins clash with Dagster's SQLAlchemy.
BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export AI_CHARGEBACK_DUCKDB ?= $(CURDIR)/warehouse/ai_chargeback.duckdb
export AI_CHARGEBACK_LANDING ?= $(CURDIR)/data/landing
# the Spark target's state (parquet warehouse, Derby metastore): an absolute path
export AI_CHARGEBACK_SPARK_DIR ?= $(CURDIR)/warehouse/spark
export DBT_PROFILES_DIR := $(CURDIR)

DEMO_DAYS ?= 30
DEMO_TENANTS ?= 8
DEMO_REQUESTS_PER_DAY ?= 1500
DEMO_SEED ?= 42
DEMO_START ?= 2026-11-01

.PHONY: demo test test-spark install install-spark lint parse clean docs ui system-deps \
	postgres postgres-stop bench bi bi-stop bi-install

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(BI_STAMP): bi/requirements.txt bi/requirements.lock
	test -x $(BI_VENV)/bin/python || $(PYTHON) -m venv $(BI_VENV)
	$(BI_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BI_VENV)/bin/python -m pip install --quiet -c bi/requirements.lock -r bi/requirements.txt
	touch $(BI_STAMP)

bi-install: $(BI_STAMP)

# The Spark target's optional dependencies (dbt-spark, pyspark): tests and `make test-spark`,
# not `make demo`.
$(SPARK_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark]'
	touch $(SPARK_STAMP)

install-spark: $(SPARK_STAMP)

parse: $(STAMP)
	$(BIN)/dbt parse --quiet

demo: $(STAMP)
	mkdir -p $(DAGSTER_HOME) warehouse
	rm -rf $(AI_CHARGEBACK_LANDING) $(AI_CHARGEBACK_DUCKDB)
	$(BIN)/ai-chargeback generate --days $(DEMO_DAYS) --tenants $(DEMO_TENANTS) \
		--requests-per-day $(DEMO_REQUESTS_PER_DAY) --seed $(DEMO_SEED) \
		--start $(DEMO_START) --out $(AI_CHARGEBACK_LANDING)
	$(BIN)/ai-chargeback run

# System packages the tests use: headless Chromium (statement screenshots) and a Java runtime
# (the Spark target). PostgreSQL is installed and started by the Postgres tests themselves
# (scripts/postgres.sh).
system-deps:
	scripts/install_system_deps.sh

test: $(SPARK_STAMP) $(BI_STAMP) system-deps
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/ruff check .
	$(BIN)/dbt parse --quiet
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The Spark leg alone (it is part of `make test` too): the DuckDB run and the same landing files
# through the whole Dagster job on in-process Spark, compared row by row.
test-spark: $(SPARK_STAMP) system-deps
	$(BIN)/python -m pytest tests/test_spark.py

# A local PostgreSQL (own cluster in .postgres/, 127.0.0.1:$${AI_CHARGEBACK_PG_PORT:-55432})
postgres:
	scripts/postgres.sh start

postgres-stop:
	scripts/postgres.sh stop

# dbt docs (target/index.html) and Great Expectations Data Docs (docs/data_docs/index.html)
# for the warehouse that `make demo` built
docs: $(STAMP)
	$(BIN)/dbt docs generate --quiet
	$(BIN)/python -m expectations.runner --warehouse $(AI_CHARGEBACK_DUCKDB) --docs docs/data_docs
	@echo "dbt docs:  $(CURDIR)/target/index.html (or: $(BIN)/dbt docs serve)"
	@echo "Data Docs: $(CURDIR)/docs/data_docs/index.html"

# the Dagster UI: asset graph, checks, partitions, the daily schedule and the landing sensor
ui: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dbt parse --quiet
	$(BIN)/dagster dev -m orchestration.definitions -h 127.0.0.1 -p 3000

# The BI tool on the published snapshot of `make demo` (README: "For analysts"):
# Superset on http://127.0.0.1:$${AI_CHARGEBACK_BI_PORT:-8088}, dashboards from bi/*.yaml
bi: $(BI_STAMP)
	$(BI_VENV)/bin/python bi/bootstrap.py init
	$(BI_VENV)/bin/python bi/bootstrap.py start

bi-stop:
	$(BI_VENV)/bin/python bi/bootstrap.py stop

# Benchmarks (issue 7): BENCH_ATTEMPTS=100000 (default) | 1000000 | 10000000
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf warehouse data/landing target logs .dagster .superset spark-warehouse metastore_db
