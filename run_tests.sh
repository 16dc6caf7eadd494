#!/usr/bin/env bash
# Installs the environment if needed, then runs the test suite: the fast tests by default, `-m slow` for the
# stage subprocesses and multi-minute runs. Test data: $ADAPLER_DATA_DIR, default ../shared/data.
set -euo pipefail
cd "$(dirname "$0")"
python=$(bash install.sh | tail -n 1)
export HF_HUB_OFFLINE=1
exec "$python" -m pytest "$@"
