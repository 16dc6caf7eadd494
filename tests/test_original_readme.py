"""The original repository's README, command for command, on a small slice of the real data.

Each command is exactly as written there; only --DATA_DIR, --TRAIN_EXAMPLES and --EVAL_EXAMPLES are
added to keep it small (and `python` is this interpreter).
"""

import json
import os
import pickle
import shlex
import sys

from models.backbones import resolve_backbone
from models.modeling_tf_bert import TFBertForSequenceClassification
from pipeline.paths import REPO
from tests.stages import run_command
from tests.upstream_files import write_hatexplain

import pytest

TRAIN, EVAL = 64, 32
CHECKPOINT = "models/adaptive_lr/run_1_sst2_GAMMA0.005_PHI0.0005_lr.h5"


# Every test here runs stages as subprocesses.
pytestmark = pytest.mark.slow

def run(command, directory, data_dir, cwd=REPO, check=True):
    words = shlex.split(command)
    if words[0] == "python":
        words = [sys.executable, *words[1:], "--DATA_DIR", data_dir, "--TRAIN_EXAMPLES", str(TRAIN),
                 "--EVAL_EXAMPLES", str(EVAL)]
    return run_command(words, directory, cwd, check)


@pytest.fixture(scope="module")
def original_sequence(tmp_path_factory, data_dir):
    directory = tmp_path_factory.mktemp("directory")
    task = directory / "bert" / "22" / "sst2"
    checkpoint = task / CHECKPOINT
    outputs = {"build": run("./build_task_dirs.sh bert sst2 22", directory, data_dir, cwd=os.path.join(REPO, "directory"))}
    for key, command in [
        ("finetune", "python ./run_files/run_classification_bert.py --TASK sst2 --MAX_LENGTH 64 --DATA_SEED 22"),
        ("saliency", "python ./tools/store_saliencies.py --TASK sst2 --DATA_SEED 22 --MAX_LENGTH 64 --BATCH_SIZE 4"),
        ("adapler", "python ./run_files/run_classification_w_lr.py --TASK sst2 --GAMMA 0.005 --PHI 0.0005 --SAVE_NAME "
                    "run_1_sst2 --BATCH_SIZE 32 --DATA_SEED 22 --EPOCHS 5 --MAX_LENGTH 64 --LEARNING_RATE 3e-5"),
        ("evaluate", f"python ./run_files/run_classification_evaluation.py --TASK sst2 --MAX_LENGTH 64 --BATCH_SIZE 48 "
                     f"--MODEL_PATH {checkpoint} --LR_MODEL"),
        ("glue", f"python ./run_files/run_glue_prediction.py --TASK sst2 --MAX_LENGTH 64 --LR_MODEL --MODEL_PATH "
                 f"{checkpoint} --LR_MODEL"),
    ]:
        outputs[key] = run(command, directory, data_dir)
    return directory, task, outputs


def test_every_artefact_lands_in_the_directory_build_task_dirs_built(original_sequence):
    directory, task, _ = original_sequence
    assert os.listdir(directory) == ["bert"]
    assert (task / "models" / "bert_sst2_3.h5").is_file() and (task / CHECKPOINT).is_file()
    assert (task / "data" / "sals" / "train" / "sal_mat_wCLSSEPnoZ_1.npy").is_file()


def test_evaluation_reads_task_directory_and_seed_from_the_checkpoint(original_sequence):
    _, task, outputs = original_sequence
    printed = outputs["evaluate"].stdout
    assert "ACCURACY: " in printed and f"COUNT: {EVAL}" in printed and "SPEEDUP (TOTAL): " in printed
    with open(task / "logs" / "eval_run_1_sst2_GAMMA0.005_PHI0.0005_validation.json") as handle:
        result = json.load(handle)
    assert result["checkpoint"] == str(task / CHECKPOINT) and result["count"] == EVAL


def test_glue_prediction_is_named_after_the_checkpoint_and_writes_its_flops(original_sequence):
    _, task, outputs = original_sequence
    path = task / "logs" / "glue_prediction_run_1_sst2_GAMMA0.005_PHI0.0005_test.tsv"
    assert f"GLUE FILE (SST-2): {path}" in outputs["glue"].stdout
    assert len(path.read_text().splitlines()) == 1821 + 1
    with open(task / "logs" / "flops_per_example.pickle", "rb") as handle:
        flops = pickle.load(handle)
    assert flops["split"] == "test" and flops["layer_lengths"].shape == (1821, 6)


def test_a_seed_that_contradicts_the_checkpoint_path_is_refused(original_sequence, data_dir):
    directory, task, _ = original_sequence
    result = run(f"python ./run_files/run_glue_prediction.py --TASK sst2 --DATA_SEED 42 --LR_MODEL --MODEL_PATH "
                 f"{task / CHECKPOINT}", directory, data_dir, check=False)
    assert result.returncode == 1
    assert "lies in the task directory of seed 22, not --DATA_SEED 42" in result.stderr


def test_the_readme_evaluation_command_runs_on_upstream_hatexplain_files(tmp_path):
    data_dir = write_hatexplain(tmp_path)
    model = TFBertForSequenceClassification.from_pretrained(resolve_backbone("all-MiniLM-L6-v2"), num_labels=3)
    checkpoint = tmp_path / "hatexplain_lr.h5"
    model.to_AdapLeR().save_weights(str(checkpoint))
    result = run(f"python ./run_files/run_classification_evaluation.py --TASK hatexplain --MAX_LENGTH 72 --BATCH_SIZE 48 "
                 f"--MODEL_PATH {checkpoint} --LR_MODEL", tmp_path / "unused", data_dir)
    assert "COUNT: 1" in result.stdout and "SPEEDUP (TOTAL): " in result.stdout  # the tie is dropped
    assert "validation: 1 of 2 posts have no majority label" in result.stderr
    with open(tmp_path / "eval_hatexplain_validation.json") as handle:
        assert json.load(handle)["count"] == 1
    with open(tmp_path / "flops_per_example.pickle", "rb") as handle:
        flops = pickle.load(handle)
    # Stage 4 writes the original's keys: one entry per evaluated example, plain model and AdapLeR.
    assert len(flops["bert"]) == len(flops["adapler"]) == 1
    printed = float(next(line for line in result.stdout.splitlines() if line.startswith("SPEEDUP (TOTAL)")).split(":")[1])
    assert flops["bert"][0] / flops["adapler"][0] == pytest.approx(printed, abs=1e-4)
