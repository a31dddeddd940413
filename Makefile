# provemu: `make run` starts every emulator; `make test` installs what it needs, lints, runs the suite and checks
# the package as users install it (`make package-check`).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
STATE_DIR ?= .provemu
PYTEST_ARGS ?=

.PHONY: system-deps venv run test lint unit package-check bench fuzz proto events-doc clean image image-test

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("provemu needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,ble,pcap]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages the suite drives (tools/system-deps.d/*.txt); a no-op when all are installed.
system-deps:
	tools/install-system-deps.sh

run: venv
	$(VENV)/bin/provemu certs init --state-dir $(STATE_DIR)
	$(VENV)/bin/provemu serve all --state-dir $(STATE_DIR)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy protocols emulators certs tools
	$(VENV)/bin/lint-imports

unit: venv system-deps
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

# Build the sdist and wheel, twine-check them, install the wheel into a fresh venv and serve from it.
package-check: venv
	$(PY) -m tests.packaging.check_wheel

test: lint unit package-check

bench: venv system-deps
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

fuzz: venv
	$(PY) -m pytest -q tests -k "garbage or fuzz" -p no:cacheprovider

events-doc: venv
	$(PY) -m tools.render_events

proto: venv
	$(PY) -m tools.generate_proto

image: venv
	container/build-image.sh

image-test: venv
	container/image-test.sh

clean:
	rm -rf $(VENV) $(STATE_DIR) .pytest_cache .mypy_cache .ruff_cache .hypothesis
