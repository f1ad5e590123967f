# sre.runbooks: the one entry point for people and CI.
#   make setup   Debian packages (when absent), .venv with the pinned Python deps
#   make demo    the lab + the Redis and bad-rollout drills: fault -> p0-system-down.yml -> verified recovery
#   make test    setup + lint-free unit and integration tests against the lab's real services
#   make lint    ruff + ansible-lint (production profile)
#   make sanity  ansible-test sanity on the built collection
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

APT_PACKAGES := redis-server postgresql rsync prometheus prometheus-alertmanager prometheus-redis-exporter prometheus-postgres-exporter \
	systemd-container debootstrap nginx iptables
.PHONY: setup apt host-image demo test lint sanity lab-up lab-down clean bench ee

AWX_COLLECTION := collections/ansible_collections/awx/awx
setup: apt $(VENV)/.installed $(AWX_COLLECTION)/MANIFEST.json host-image

apt:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	command -v rsync >/dev/null || missing="$$missing rsync"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	for bin in prometheus prometheus-alertmanager prometheus-redis-exporter prometheus-postgres-exporter debootstrap nginx iptables; do \
	  command -v $$bin >/dev/null || missing="$$missing $$bin"; \
	done; \
	command -v systemd-nspawn >/dev/null || missing="$$missing systemd-container"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# awx.awx (for awx/apply.yml and its tests): Galaxy is not always reachable, PyPI's ansible package carries it.
$(AWX_COLLECTION)/MANIFEST.json: | $(VENV)/.installed
	$(PY) -m pip download -q --disable-pip-version-check --no-deps --dest build/wheels ansible==12.3.0
	$(PY) -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.extractall("collections", [n for n in z.namelist() if n.startswith("ansible_collections/awx/awx/")])' build/wheels/ansible-12.3.0-py3-none-any.whl

# The application servers' root filesystem (lab/host_image.py): built once with debootstrap, cached under build/.
# Where the host tier cannot run (no root), this says why and the lab starts without it.
host-image: | $(VENV)/.installed
	@$(PY) -m lab image

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

demo: setup
	$(PY) -m lab demo

test: setup
	$(PY) -m pytest tests

lint: setup
	$(VENV)/bin/ruff check plugins lab tests bench
	$(VENV)/bin/ansible-lint --profile production

sanity: setup
	$(PY) -m lab.sanity

lab-up: setup
	$(PY) -m lab up

lab-down:
	$(PY) -m lab down

clean: lab-down
	rm -rf .lab incidents build

bench: setup
	$(PY) -m bench

# The execution environment's build context (ansible-builder build -c build/ee -t IMAGE with podman or docker).
ee: setup
	$(VENV)/bin/ansible-galaxy collection build --force --output-path build .
	$(VENV)/bin/ansible-builder create -f execution-environment.yml -c build/ee
