#!/usr/bin/env bash
# Runs every test of the workspace. Store, agent, server and end-to-end tests run on SQLite and,
# when FRONTLINE_TEST_DATABASE_URL is set (or a PostgreSQL answers on 127.0.0.1:5432), on
# PostgreSQL too; each test uses a schema of its own and drops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FRONTLINE_TEST_DATABASE_URL:-}" ] && command -v pg_isready >/dev/null 2>&1 \
   && pg_isready -q -h 127.0.0.1 -p 5432; then
  export FRONTLINE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
fi
if [ -n "${FRONTLINE_TEST_DATABASE_URL:-}" ]; then
  echo "test: PostgreSQL variants on ${FRONTLINE_TEST_DATABASE_URL%%\?*}"
else
  echo "test: no PostgreSQL configured (FRONTLINE_TEST_DATABASE_URL); SQLite only"
fi

# LLM mode is tested against a real llama.cpp server with a tiny model: installed once, here.
scripts/llm.sh >/dev/null
# The email channel is tested against a real SMTP server (aiosmtpd).
scripts/smtp.sh >/dev/null
# The web chat is tested end to end in a real headless Chromium.
scripts/browser.sh >/dev/null

cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc --no-fail-fast
