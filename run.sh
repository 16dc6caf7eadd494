#!/usr/bin/env bash
# The main job: every stage of AdapLeR on SST-2 with the embedded all-MiniLM-L6-v2 backbone, on a training
# subset sized to finish in about 15 minutes on 2 CPU cores (the `quickstart` recipe, pipeline/recipes.py,
# which says how it differs from the original's SST-2 settings). It ends with a table of what AdapLeR
# bought (dev accuracy before and after, FLOPs and measured wall-clock speedups, the tokens entering each
# layer), the trade-off stage 3 chose from, and a picture of which tokens three dev sentences keep in each
# layer. Data: $ADAPLER_DATA_DIR (GLUE files in their upstream layout) when set, else tensorflow-datasets
# (needs the network). TRAIN_EXAMPLES (the recipe's 4000) and DATA_SEED (42) may be set too. Artefacts land
# in directory/minilm/<DATA_SEED>/sst2/.
set -euo pipefail
cd "$(dirname "$0")"
python=$(bash install.sh | tail -n 1)
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}

common=(--RECIPE=quickstart --DATA_SEED="${DATA_SEED:-42}" "--DATA_DIR=${ADAPLER_DATA_DIR:-}"
        ${TRAIN_EXAMPLES:+--TRAIN_EXAMPLES="$TRAIN_EXAMPLES"})
start=$SECONDS
stage() { echo; echo "== $1 ($(( SECONDS - start ))s elapsed)"; }

stage "1/5 fine-tune"
"$python" run_files/run_classification_bert.py "${common[@]}"
stage "2/5 saliencies"
"$python" tools/store_saliencies.py "${common[@]}" --SPLIT=train
stage "3/5 AdapLeR training"
"$python" run_files/run_classification_w_lr.py "${common[@]}"
stage "4/5 evaluation"
"$python" run_files/run_classification_evaluation.py "${common[@]}"
"$python" run_files/run_classification_evaluation.py "${common[@]}" --LR_MODEL
stage "5/5 GLUE prediction"
"$python" run_files/run_glue_prediction.py "${common[@]}" --LR_MODEL
stage "what AdapLeR bought (timing both models on the dev set)"
"$python" tools/summarize_run.py "${common[@]}"
"$python" tools/visualize_drops.py "${common[@]}" --DEV_EXAMPLES=3
echo "total: $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
