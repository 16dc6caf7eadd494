#!/usr/bin/env bash
# Installs the environment if needed, then runs the test suite (slow tests excluded; add
# `-m slow` to run only those). Test data: $ADAPLER_DATA_DIR, default ../shared/data.
set -euo pipefail
cd "$(dirname "$0")"
python=$(bash install.sh | tail -n 1)
export HF_HUB_OFFLINE=1 TF_USE_LEGACY_KERAS=1
exec "$python" -m pytest "$@"
