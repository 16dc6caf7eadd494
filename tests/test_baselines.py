"""Every comparison method end to end on a small SST-2 slice, on a tiny backbone: `run_baseline.py` trains it
and stages 4 and 5 take its checkpoint, its speedup above 1."""

import json
import os
import pickle
import re
import sys

from pipeline.paths import REPO
from tests.stages import run_command
from tests.tiny import save_tiny_backbone

import pytest

pytestmark = pytest.mark.slow
COMMON = ["--TASK=sst2", "--MAX_LENGTH=32", "--BATCH_SIZE=16", "--TRAIN_EXAMPLES=96", "--EVAL_EXAMPLES=32",
          "--DATA_SEED=42", "--DETERMINISTIC"]
RUNS = {
    "layer_drop": ["--LAYERS=1"],
    "truncation": ["--TARGET_SPEEDUP=1.5"],
    "power_bert": ["--LAMBDA=0.02", "--PRUNER_LEARNING_RATE=0.2"],
    "ltp": ["--LAMBDA=0.5", "--FINAL_THRESHOLD=0.08", "--PRUNER_LEARNING_RATE=0.01"],
}


def script(name):
    return [sys.executable, os.path.join(REPO, name)]


@pytest.fixture(scope="module")
def task(tmp_path_factory, data_dir):
    """A task directory whose stage 1 ran on the tiny backbone; returns (root, common flags, task dir)."""
    root = tmp_path_factory.mktemp("baselines")
    common = COMMON + [f"--BASE_MODEL={save_tiny_backbone(root / 'tinybert')}", f"--DATA_DIR={data_dir}"]
    run_command(script("run_files/run_classification_bert.py") + common + ["--EPOCHS=1", "--LEARNING_RATE=1e-3"],
                root)
    return root, common, root / "tinybert" / "42" / "sst2"


@pytest.fixture(scope="module")
def trained(task):
    """Each method trained (one epoch per phase) and evaluated by stages 4 and 5: {method: (training, eval, glue)}."""
    root, common, folder = task
    outputs = {}
    for method, extra in RUNS.items():
        checkpoint = folder / "models" / "baselines" / f"{method}_test.h5"
        train = run_command(script("run_files/run_baseline.py") + common + extra + [
            f"--METHOD={method}", "--SAVE_NAME=test", "--EPOCHS=1", "--LEARNING_RATE=1e-3"], root)
        evaluate = run_command(script("run_files/run_classification_evaluation.py") + common + [
            f"--METHOD={method}", f"--MODEL_PATH={checkpoint}"], root)
        with open(folder / "logs" / "flops_per_example.pickle", "rb") as handle:
            stage4_flops = pickle.load(handle)
        # Stage 5 predicts and trains nothing: it takes no --DETERMINISTIC.
        glue = run_command(script("run_files/run_glue_prediction.py") + [f for f in common if f != "--DETERMINISTIC"] + [
            f"--METHOD={method}", f"--MODEL_PATH={checkpoint}"], root)
        outputs[method] = {"train": train, "evaluate": evaluate, "glue": glue, "checkpoint": checkpoint,
                           "stage4_flops": stage4_flops}
    return outputs


def printed(result, key):
    return float(re.search(rf"^{re.escape(key)}: ([0-9.]+)$", result.stdout, re.M).group(1))


@pytest.mark.parametrize("method", list(RUNS))
def test_each_method_writes_its_checkpoint_and_record(trained, method):
    run = trained[method]
    record = json.load(open(str(run["checkpoint"]).replace(".h5", ".json")))
    assert record["method"] == method and record["settings"]["METHOD"] == method
    assert f"{method} dev accuracy={record['dev_score']:.4f}" in run["train"].stdout
    learned = {"layer_drop": "layers", "truncation": "keep_length", "power_bert": "retention_configuration",
               "ltp": "thresholds"}[method]
    assert learned in record


@pytest.mark.parametrize("method", list(RUNS))
def test_stages_4_and_5_take_the_checkpoint_and_report_a_speedup_above_one(trained, method):
    run = trained[method]
    assert printed(run["evaluate"], "COUNT") == 32 and printed(run["evaluate"], "SPEEDUP (TOTAL)") > 1.0
    assert printed(run["glue"], "SPEEDUP (TOTAL)") > 1.0
    flops = run["stage4_flops"]
    assert len(flops["bert"]) == 32
    assert sum(flops["bert"]) / sum(flops["adapler"]) == pytest.approx(printed(run["evaluate"], "SPEEDUP (TOTAL)"),
                                                                         abs=1e-3)


@pytest.mark.parametrize("method", list(RUNS))
def test_the_evaluated_score_is_the_score_the_run_kept(trained, method):
    run = trained[method]
    record = json.load(open(str(run["checkpoint"]).replace(".h5", ".json")))
    assert printed(run["evaluate"], "ACCURACY") == pytest.approx(record["dev_score"], abs=1e-4)


def test_power_bert_records_and_warns_how_far_its_schedule_moves_a_retention_weight(trained):
    run = trained["power_bert"]
    record = json.load(open(str(run["checkpoint"]).replace(".h5", ".json")))
    # 96 examples in batches of 16: 6 updates at 0.2, decaying linearly to 0 (6 * 0.06 warm-up steps round to 0).
    assert record["retention_weight_largest_move"] == pytest.approx(sum(0.2 * (1 - t / 6) for t in range(6)))
    assert ("can move a retention weight by at most about 0.70 (--PRUNER_LEARNING_RATE=0.2 over its updates): no "
            "layer will keep fewer than about 9 of 32 tokens") in run["train"].stderr


def test_layer_drop_names_its_teacher_layers_and_truncation_its_length(trained):
    assert "a 1-layer student from teacher layers [0] (0-based)" in trained["layer_drop"]["train"].stderr
    assert re.search(r"keeping \d+ tokens: [0-9.]+x FLOPs on the training split \(target 1.5x\)",
                     trained["truncation"]["train"].stderr)


def test_a_rerun_of_a_pruning_method_skips_its_finished_soft_phase(task, trained):
    root, common, _ = task
    again = run_command(script("run_files/run_baseline.py") + common + RUNS["ltp"] + [
        "--METHOD=ltp", "--SAVE_NAME=test", "--EPOCHS=1", "--LEARNING_RATE=1e-3"], root)
    assert "soft phase done before" in again.stderr


def test_a_pruning_method_without_its_penalty_weight_is_refused(task):
    root, common, _ = task
    result = run_command(script("run_files/run_baseline.py") + common + ["--METHOD=ltp"], root, check=False)
    assert result.returncode != 0 and "--METHOD=power_bert and ltp need --LAMBDA" in result.stderr
    result = run_command(script("run_files/run_baseline.py") + common, root, check=False)
    assert result.returncode == 1 and "error: --METHOD is required" in result.stderr


@pytest.fixture(scope="module")
def tr_bert_run(tmp_path_factory, data_dir):
    """TR-BERT on a 4-layer tiny backbone (its selection points need 4 layers): stage 1, the run, stage 4."""
    root = tmp_path_factory.mktemp("tr_bert")
    common = COMMON + [f"--BASE_MODEL={save_tiny_backbone(root / 'tinybert', num_layers=4)}",
                       f"--DATA_DIR={data_dir}"]
    run_command(script("run_files/run_classification_bert.py") + common + ["--EPOCHS=1", "--LEARNING_RATE=1e-3"],
                root)
    folder = root / "tinybert" / "42" / "sst2"
    flags = ["--METHOD=tr_bert", "--ALPHA=2", "--SAMPLES=4", "--SAVE_NAME=test", "--EPOCHS=1",
             "--LEARNING_RATE=1e-3", "--PRUNER_LEARNING_RATE=1e-2"]
    train = run_command(script("run_files/run_baseline.py") + common + flags, root)
    checkpoint = folder / "models" / "baselines" / "tr_bert_test.h5"
    evaluate = run_command(script("run_files/run_classification_evaluation.py") + common + [
        "--METHOD=tr_bert", f"--MODEL_PATH={checkpoint}"], root)
    again = run_command(script("run_files/run_baseline.py") + common + flags, root)
    return {"train": train, "evaluate": evaluate, "again": again, "checkpoint": checkpoint, "folder": folder}


def test_tr_bert_trains_stores_its_residual_scores_and_stage_4_reports_a_speedup_above_one(tr_bert_run):
    import numpy as np

    record = json.load(open(str(tr_bert_run["checkpoint"]).replace(".h5", ".json")))
    assert record["points"] == [1, 2] and record["late_layer"] == 3
    scores = np.load(tr_bert_run["folder"] / "data" / "residual" / "train_residual_scores.npy")
    assert scores.shape == (96, 32, 2) and (scores >= 0).all() and scores.max() > 0
    assert printed(tr_bert_run["evaluate"], "SPEEDUP (TOTAL)") > 1.0
    assert printed(tr_bert_run["evaluate"], "ACCURACY") == pytest.approx(record["dev_score"], abs=1e-4)


def test_a_tr_bert_rerun_reuses_its_residual_scores_and_its_finished_rl_phase(tr_bert_run):
    assert "residual scores from" in tr_bert_run["again"].stderr
    assert "RL phase done before" in tr_bert_run["again"].stderr
