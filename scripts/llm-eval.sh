#!/usr/bin/env bash
# LLM calls and tokens per turn over every conversation suite in LLM mode (issue #10, item 7):
# starts a real llama.cpp server with SmolLM2-135M-Instruct (scripts/llm.sh installs both, once),
# runs `frontline eval --mode llm` against it with the calls recorded to a cassette folder, and
# stops the server. The report (report.json, report.html) and the cassettes go to the folder
# given as the first argument (a temporary one by default). The figures to read are the
# report's `llm` block: calls_per_turn, tokens_per_turn, continuation_turns, continuation_calls.
# A 135M model understands far worse than a production one, so read its pass rate as a
# measurement of the harness, not of LLM mode's quality. The counts do not depend on the build:
# FRONTLINE_LLM_EVAL_PROFILE=dev runs the test build's binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
IFS=$'\t' read -r python model < <(scripts/llm.sh)
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$python" -m llama_cpp.server --model "$model" --host 127.0.0.1 --port "$port" \
  --n_ctx 4096 --n_threads 2 >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v1/models', timeout=1)" \
    >/dev/null 2>&1 && break
  sleep 1
done
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
echo "llm-eval: llama.cpp on 127.0.0.1:$port; report and cassettes in $out" >&2
FRONTLINE_LLM__BASE_URL="http://127.0.0.1:$port/v1" FRONTLINE_LLM__MODEL=smollm2 \
FRONTLINE_LLM__CASSETTE=record FRONTLINE_LLM__CASSETTE_DIR="$out/cassettes" \
  cargo run --profile "${FRONTLINE_LLM_EVAL_PROFILE:-release}" --quiet --package frontline-cli --bin frontline -- \
  eval --mode llm --jobs 1 --report "$out/report" "${@:2}"
