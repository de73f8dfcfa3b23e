#!/usr/bin/env bash
# Installs, once, what the web chat's end-to-end test drives: Chromium (Debian packages
# `chromium`, `chromium-driver`) and playwright-core (npm) into a folder outside the repository.
# Prints the node_modules folder and the Chromium binary, tab-separated. Safe to run any number
# of times.
set -euo pipefail
dir="${FRONTLINE_BROWSER_DIR:-$HOME/.cache/frontline/browser}"
if ! command -v chromium >/dev/null 2>&1; then
  echo "browser: installing chromium (Debian packages)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null; fi
fi
if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
  command -v npm >/dev/null 2>&1 || { echo "browser: node and npm are needed" >&2; exit 1; }
  echo "browser: installing playwright-core into $dir" >&2
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" playwright-core@1.65.1 >&2
fi
printf '%s\t%s\n' "$dir/node_modules" "$(command -v chromium)"
