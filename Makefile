# The two commands of the README. Both install everything first (Debian packages, a virtual environment, pip).
VENV   ?= .venv
PYTEST ?= $(VENV)/bin/python -m pytest
HOME_DIR ?= demo-home
PORT   ?= 8080

.PHONY: install demo test bench clean

install:
	bash scripts/install.sh

demo: install
	$(VENV)/bin/station --profile simulated --home $(HOME_DIR) demo --voters 500 --seed 7 --port $(PORT) $(if $(FACES),--faces $(FACES))

test: install
	$(PYTEST) -n 2 -q $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/station bench flow --voters 200 --json

clean:
	rm -rf $(VENV) $(HOME_DIR) .pytest_cache
