# ccpros: the two commands of the README, and what they need.
#   make run    start the whole platform on the demo configuration (Ctrl-C stops it)
#   make test   run the whole test suite (what CI runs)
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ROOTFS := .local/asterisk-root
PYTEST_ARGS ?=

.PHONY: run test unit check deps host-deps clean

run: deps
	$(VENV)/bin/ccpros run

test: deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

check: $(VENV)/.installed
	$(VENV)/bin/ccpros config check

deps: host-deps $(VENV)/.installed $(ROOTFS)/.ccpros-packages

host-deps:
	@asterisk/host-deps.sh

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(ROOTFS)/.ccpros-packages: asterisk/packages.txt asterisk/install.sh
	asterisk/install.sh $(ROOTFS)

clean:
	rm -rf $(VENV) var
