# rackseed — the commands a developer and CI use. `make test` is what .ci/run calls.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help setup build lint format typecheck test test-unit test-integration test-e2e demo bench image guest-image clean

help:
	@echo "make demo   run the main job (see README)"
	@echo "make test   install what is needed, then lint, typecheck and run every test project"
	@echo "make setup  install Debian packages and node modules, compile (idempotent)"
	@echo "make bench  run the benchmarks; each prints its figures (BENCH=name for some)"
	@echo "make image  build the netboot image (kernel + initramfs) and the USB seed image into .cache/images/"
	@echo "make guest-image  build the tenants' guest image (a raw disk) into .cache/images/guest/"

setup:
	@scripts/setup.sh

build:
	npx tsc -p tsconfig.build.json

lint:
	npx eslint . && npx prettier --check .

format:
	npx prettier --write . && npx eslint --fix .

typecheck:
	npx tsc -p tsconfig.json && npx tsc -p appliance/api/dashboard/web/tsconfig.json

test: setup lint typecheck
	@scripts/test.sh

test-unit test-integration test-e2e: setup
	npx vitest run --project $(subst test-,,$@)

demo: setup guest-image
	npx tsx scripts/demo.ts

bench: setup
	npx tsx bench/run.ts $(BENCH)

image: setup
	images/usb/build.sh   # builds images/netboot first

guest-image: setup
	images/guest/build.sh

clean:
	rm -rf dist .bed
