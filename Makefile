# shortship: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed

.PHONY: run test bench bench-daily bench-spark spark clean venv locale

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# the [spark] extra (pyspark; Spark also needs Java 17+): without it the Spark tests are skipped
spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,spark]'
	touch $(SPARK_STAMP)

run: $(STAMP)
	$(PY) -m pipeline run data/sample --db data/shortship.duckdb --out out --create

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadfile

bench: $(STAMP)
	$(PY) bench/bench.py --orders $${N:-1000000} $${REPEAT:+--repeat $$REPEAT}

# the daily figures alone: a month of overlapping daily exports of N orders (default 200,000):
# one more day and a rerun with no new file, each against a full run, stage by stage
bench-daily: $(STAMP)
	$(PY) bench/daily.py --orders $${N:-200000} $${REPEAT:+--repeat $$REPEAT} --write

# the message catalogue: extract the texts of the code and templates, update the .po files,
# compile the .mo files (commit all three; tests/act/test_locale.py checks they agree)
locale: $(STAMP)
	$(PY) -m pipeline.locale.catalog

# the many-shops figure alone: SHOPS shops x ORDERS orders, single machine vs spark-run
bench-spark: $(SPARK_STAMP)
	$(PY) bench/spark_bench.py --shops $${SHOPS:-20} --orders $${ORDERS:-20000}

clean:
	rm -rf $(VENV) out data/shortship.duckdb*
