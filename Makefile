# frontline — the two commands of the README, and a few helpers.
#   make demo   run the service with the demo shop on embedded defaults (no server, no API key)
#   make test   run every test (PostgreSQL variants too when a loopback server answers)

CARGO ?= cargo

.PHONY: demo test lint fmt

demo:
	@scripts/setup.sh
	$(CARGO) run --package frontline-cli --bin frontline -- serve

test:
	@scripts/setup.sh
	@scripts/test.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
