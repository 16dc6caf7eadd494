#!/usr/bin/env bash
# Builds the task directory tree (docs/stages.md) for one (backbone, task, seed):
#   directory/<backbone>/<seed>/<task>/{models/adaptive_lr,logs,data/sals/*,data/attn/*}
# The root is this folder, or $ADAPLER_DIRECTORY when set. Idempotent: existing directories and files are left as they are.
set -euo pipefail

usage() {
  echo "usage: $0 <backbone> <task> <seed>   (e.g. $0 minilm sst2 42)" >&2
  exit 2
}

[ "$#" -eq 3 ] || usage
backbone=$1 task=$2 seed=$3
for value in "$backbone" "$task"; do
  [[ "$value" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "error: '$value' is not a valid name (letters, digits, . _ -)" >&2; usage; }
done
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "error: seed '$seed' is not a non-negative integer" >&2; usage; }

root="${ADAPLER_DIRECTORY:-$(cd "$(dirname "$0")" && pwd)}/$backbone/$seed/$task"
mkdir -p "$root/models/adaptive_lr" "$root/models/baselines" "$root/logs"
for kind in sals attn; do
  for split in train val test; do
    mkdir -p "$root/data/$kind/$split"
  done
done
echo "$root"
