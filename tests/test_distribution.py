"""tf.distribute and resumable runs: replica equivalence, two workers on 127.0.0.1, SIGKILL and resume.

Stages run as subprocesses on a tiny random BERT saved as a local backbone folder (no dropout,
`--DETERMINISTIC`), so a run repeats exactly and every process stops within its timeout.
"""

import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys

from pipeline.paths import REPO
from pipeline.resume import Resumable, ResumeError
from tests.stages import run_command
from tests.tiny import gradient_driven, save_tiny_backbone

import numpy as np
import pytest
import tensorflow as tf

# Every test here runs stages as subprocesses.
pytestmark = pytest.mark.slow

TIMEOUT = 600
COMMON = ["--TASK=sst2", "--MAX_LENGTH=32", "--BATCH_SIZE=8", "--TRAIN_EXAMPLES=64", "--EVAL_EXAMPLES=32",
          "--DATA_SEED=42", "--DETERMINISTIC"]
ADAPLER = ["--EPOCHS=2", "--INITIAL_MODEL_PATH=", "--GAMMA=0.5", "--PHI=0.01", "--CP_LEARNING_RATE=1e-2",
           "--SPEEDUP_LEARNING_RATE=1e-2", "--CHECKPOINT_EVERY=2"]


def script(name):
    return [sys.executable, os.path.join(REPO, name)]


@pytest.fixture(scope="module")
def equivalence():
    """The JSON of tests/replica_equivalence.py (one device against 2 mirrored logical CPUs)."""
    result = run_command([sys.executable, "-m", "tests.replica_equivalence"], REPO)
    return json.loads(re.search(r"^RESULT (.*)$", result.stdout, re.M).group(1))


@pytest.mark.parametrize("case", ["acc1", "acc2", "epoch"])
def test_a_mirrored_update_equals_the_single_device_update(equivalence, case):
    # acc1: one update; acc2: two accumulated batches; epoch: 10 examples in batches of 4, the
    # last step leaving one replica empty.
    got = equivalence[case]
    assert equivalence["replicas"] == 2
    assert got["moved"] > 1e-4 and got["eta_moved"] > 1e-4, "an update that moves nothing proves nothing"
    assert got["weights"] < 1e-5 and got["eta"] < 1e-5 and got["theta"] < 1e-5, got


def test_saliencies_gathered_from_replicas_equal_the_single_device_array(equivalence):
    got = equivalence["inference"]
    assert got["saliency_scale"] > 1e-4 and got["saliency"] < 1e-6 * max(1.0, got["saliency_scale"]), got


def test_hard_removal_predictions_gathered_from_replicas_equal_the_single_device_ones(equivalence):
    got = equivalence["inference"]
    assert got["removed"] and got["lengths_equal"] and got["logits"] < 1e-5, got


@pytest.fixture(scope="module")
def tiny_task(tmp_path_factory, data_dir):
    """A task directory with stages 1 and 2 done on the tiny backbone; returns (root, common flags)."""
    root = tmp_path_factory.mktemp("distributed")
    backbone = save_tiny_backbone(root / "tinybert")
    common = COMMON + [f"--BASE_MODEL={backbone}", f"--DATA_DIR={data_dir}"]
    run_command(script("run_files/run_classification_bert.py") + common + ["--EPOCHS=1"], root)
    run_command(script("tools/store_saliencies.py") + common, root)
    return root, common


def adapler_checkpoint(root, name):
    (path,) = glob.glob(str(root / "tinybert" / "42" / "sst2" / "models" / "adaptive_lr" / f"{name}_*_lr.h5"))
    return path


def weights(path):
    import h5py

    values = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, item: values.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset)
                          else None)
    return values


def assert_same_weights(first, second, atol):
    """Equal gradient-driven weights (`tiny.gradient_driven`): the rest moves by rounding noise."""
    one, two = weights(first), weights(second)
    assert one.keys() == two.keys()
    for name in one:
        if gradient_driven(name, one[name]) is not None:
            np.testing.assert_allclose(gradient_driven(name, one[name]), gradient_driven(name, two[name]), atol=atol,
                                       rtol=0, err_msg=name)


def assert_identical_weights(first, second):
    """Every weight equal to the bit: the same traced step, deterministic ops and the same batches."""
    one, two = weights(first), weights(second)
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=name)


@pytest.fixture(scope="module")
def reference_run(tiny_task):
    """Stage 3 run once, uninterrupted, on one device."""
    root, common = tiny_task
    run_command(script("run_files/run_classification_w_lr.py") + common + ADAPLER + ["--SAVE_NAME=reference"], root)
    return adapler_checkpoint(root, "reference")


def evaluate(root, common, checkpoint):
    result = run_command(script("run_files/run_classification_evaluation.py") + common
                         + ["--LR_MODEL", f"--MODEL_PATH={checkpoint}"], root)
    return dict(re.findall(r"^([A-Z ()]+): ([0-9.]+)$", result.stdout, re.M))


def test_stage_3_trains_on_two_mirrored_replicas_and_its_checkpoint_evaluates_like_a_single_device_one(
        tiny_task, reference_run):
    root, common = tiny_task
    result = run_command(script("run_files/run_classification_w_lr.py") + common + ADAPLER
                         + ["--SAVE_NAME=mirrored", "--STRATEGY=mirrored", "--CPU_REPLICAS=2"], root)
    assert "MirroredStrategy with 2 replicas" in result.stderr
    mirrored = adapler_checkpoint(root, "mirrored")
    assert_same_weights(reference_run, mirrored, atol=1e-5)
    assert evaluate(root, common, mirrored) == evaluate(root, common, reference_run)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for handle in sockets:
        handle.bind(("127.0.0.1", 0))
    ports = [handle.getsockname()[1] for handle in sockets]
    for handle in sockets:
        handle.close()
    return ports


def test_two_workers_train_identical_weights_and_only_the_chief_writes(tmp_path, data_dir):
    backbone = save_tiny_backbone(tmp_path / "tinybert")
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    command = script("run_files/run_classification_bert.py") + COMMON + [
        f"--BASE_MODEL={backbone}", f"--DATA_DIR={data_dir}", "--EPOCHS=1", "--STRATEGY=multi_worker"]
    workers = []
    for index in range(2):
        env = dict(os.environ, ADAPLER_DIRECTORY=str(tmp_path), HF_HUB_OFFLINE="1", TF_USE_LEGACY_KERAS="1",
                   TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True))
    try:
        outputs = [worker.communicate(timeout=TIMEOUT) for worker in workers]
    finally:
        for worker in workers:
            worker.kill()
    for worker, (_, stderr) in zip(workers, outputs):
        assert worker.returncode == 0, stderr[-3000:]
    digests = [re.search(r"weights digest (\w+)", stderr).group(1) for _, stderr in outputs]
    assert digests[0] == digests[1]
    assert "epoch 1: validation" in outputs[0][0] and "epoch 1: validation" not in outputs[1][0]
    task = tmp_path / "tinybert" / "42" / "sst2"
    assert (task / "models" / "bert_sst2_1.h5").is_file()
    log = (task / "logs" / "finetune.log").read_text()
    assert "MultiWorkerMirroredStrategy with 2 replicas (worker 0)" in log and "(worker 1)" not in log
    assert log.count("weights digest") == 1


def run_until_checkpoint(command, root, checkpoints):
    """Starts `command` and kills it with SIGKILL once its log announced `checkpoints` checkpoints."""
    env = dict(os.environ, ADAPLER_DIRECTORY=str(root), HF_HUB_OFFLINE="1", TF_USE_LEGACY_KERAS="1")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    seen, lines = 0, []
    try:
        for line in process.stderr:
            lines.append(line)
            seen += " checkpoint " in line
            if seen == checkpoints:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=60)
    assert seen == checkpoints, "".join(lines)[-3000:]
    return process.returncode


def test_a_stage_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tiny_task, reference_run):
    root, common = tiny_task
    command = script("run_files/run_classification_w_lr.py") + common + ADAPLER + ["--SAVE_NAME=killed"]
    assert run_until_checkpoint(command, root, checkpoints=1) == -signal.SIGKILL
    result = run_command(command, root)
    assert re.search(r"resumed from .*ckpt-\d+: epoch 1, step [1-7] of the epoch", result.stderr)
    assert_identical_weights(reference_run, adapler_checkpoint(root, "killed"))


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tiny_task, reference_run):
    root, common = tiny_task
    command = script("run_files/run_classification_w_lr.py") + common + ADAPLER + ["--SAVE_NAME=corrupt"]
    run_until_checkpoint(command, root, checkpoints=2)
    folder = root / "tinybert" / "42" / "sst2" / "resume"
    latest = tf.train.latest_checkpoint(str(next(folder.glob("corrupt_*"))))
    data = glob.glob(latest + ".data-*")[0]
    with open(data, "r+b") as handle:
        handle.truncate(os.path.getsize(data) // 2)
    result = run_command(command, root)
    assert f"checkpoint {latest} is unreadable" in result.stderr
    assert re.search(r"resumed from .*ckpt-\d+: epoch 1, step [1-7] of the epoch", result.stderr)
    assert_identical_weights(reference_run, adapler_checkpoint(root, "corrupt"))


class _Log:
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)

    warning = info


def test_checkpoints_of_a_run_with_other_flags_are_refused_with_the_difference(tmp_path):
    variable = tf.Variable(1.0)
    first = Resumable(str(tmp_path / "run"), {"EPOCHS": 3}, True, _Log(), value=variable)
    assert first.restore() is None
    first.save(epoch=0, batch=4)
    with pytest.raises(ResumeError, match=r"EPOCHS 3 -> 5.*--RESUME=false"):
        Resumable(str(tmp_path / "run"), {"EPOCHS": 5}, True, _Log(), value=variable).restore()


def test_resume_false_starts_over_and_a_finished_run_leaves_nothing(tmp_path):
    variable = tf.Variable(1.0)
    first = Resumable(str(tmp_path / "run"), {}, True, _Log(), value=variable)
    first.restore()
    first.save(epoch=1, batch=0)
    variable.assign(7.0)
    again = Resumable(str(tmp_path / "run"), {}, True, _Log(), value=variable)
    assert again.restore(enabled=False) is None and variable.numpy() == 7.0
    assert tf.train.latest_checkpoint(str(tmp_path / "run")) is None
    resumed = Resumable(str(tmp_path / "run"), {}, True, _Log(), value=variable)
    resumed.restore()
    resumed.save(epoch=2, batch=3)
    variable.assign(0.0)
    last = Resumable(str(tmp_path / "run"), {}, True, _Log(), value=variable)
    assert last.restore() == {"epoch": 2, "batch": 3} and variable.numpy() == 7.0
    last.finish()
    assert not (tmp_path / "run").exists()
