#!/usr/bin/env bash
# The main job: every stage of AdapLeR on SST-2 with the embedded all-MiniLM-L6-v2 backbone, on a
# training subset sized to finish in under 25 minutes on 2 CPU cores. Data: $ADAPLER_DATA_DIR
# (GLUE files in their upstream layout) when set, else tensorflow-datasets (needs the network).
# Artefacts land in directory/minilm/<seed>/sst2/.
set -euo pipefail
cd "$(dirname "$0")"
python=$(bash install.sh | tail -n 1)
export TF_USE_LEGACY_KERAS=1 HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}

TRAIN_EXAMPLES=${TRAIN_EXAMPLES:-2000}
common=(--TASK=sst2 --BASE_MODEL=all-MiniLM-L6-v2 --MAX_LENGTH=64 --BATCH_SIZE=32 --DATA_SEED=42
        "--DATA_DIR=${ADAPLER_DATA_DIR:-}" --TRAIN_EXAMPLES="$TRAIN_EXAMPLES")
# The original's SST-2 loss weights; the two learning rates let a short run train the new CP heads
# and move ETA (the original's 3e-5 and 5e-4 assume ~10k updates).
adapler=(--GAMMA=0.005 --PHI=0.0005 --SAVE_NAME=quickstart)
start=$SECONDS
stage() { echo; echo "== $1 ($(( SECONDS - start ))s elapsed)"; }

stage "1/5 fine-tune"
"$python" run_files/run_classification_bert.py "${common[@]}" --EPOCHS=2 --LEARNING_RATE=5e-5
stage "2/5 saliencies"
"$python" tools/store_saliencies.py "${common[@]}" --SPLIT=train
stage "3/5 AdapLeR training"
"$python" run_files/run_classification_w_lr.py "${common[@]}" "${adapler[@]}" --EPOCHS=3 --INITIAL_MODEL_PATH= \
  --CP_LEARNING_RATE=1e-3 --SPEEDUP_LEARNING_RATE=1e-2
stage "4/5 evaluation"
"$python" run_files/run_classification_evaluation.py "${common[@]}" "${adapler[@]}"
"$python" run_files/run_classification_evaluation.py "${common[@]}" "${adapler[@]}" --LR_MODEL
stage "5/5 GLUE prediction"
"$python" run_files/run_glue_prediction.py "${common[@]}" "${adapler[@]}" --LR_MODEL
"$python" tools/summarize_run.py "${common[@]}" "${adapler[@]}"
echo "total: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
