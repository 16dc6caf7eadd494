"""The reproduction benchmark's quick mode on a tiny real slice: results schema, plot and table."""

import json
import os
import subprocess
import sys

import pytest

from pipeline.paths import REPO

RUN_KEYS = {"task", "backbone", "max_length", "train_examples", "eval_examples", "baseline_score", "adapler_score",
            "flops_speedup", "measured_speedup_batch1", "measured_speedup_batched", "command", "machine", "date"}


@pytest.fixture(scope="module")
def results(tmp_path_factory, data_dir):
    results_dir = tmp_path_factory.mktemp("results")
    command = [sys.executable, os.path.join(REPO, "benchmarks", "reproduce.py"), "--QUICK", "--TASK=sst2",
               f"--RESULTS_DIR={results_dir}", f"--WORK_DIR={tmp_path_factory.mktemp('work')}",
               f"--DATA_DIR={data_dir}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TF_USE_LEGACY_KERAS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return results_dir


def test_speed_json_lists_the_run_with_every_required_key(results):
    runs = json.load(open(results / "speed.json"))["runs"]
    assert len(runs) == 1 and set(runs[0]) == RUN_KEYS
    run = runs[0]
    assert run["task"] == "sst2" and run["max_length"] == 32 and run["train_examples"] == 64
    assert run["eval_examples"] == 32
    for key in ("baseline_score", "adapler_score"):
        assert 0.0 <= run[key] <= 1.0
    for key in ("flops_speedup", "measured_speedup_batch1", "measured_speedup_batched"):
        assert run[key] > 0
    assert "reproduce.py" in run["command"] and "cores" in run["machine"]


def test_run_json_holds_timings_and_the_sweep(results):
    run = json.load(open(results / "sst2_minilm_32.json"))
    assert run["batch1"]["batch_size"] == 1 and run["batched"]["batch_size"] == 32
    assert [p["scale"] for p in run["sweep"]] == [1.0, 2.0]
    for point in run["sweep"]:
        assert {"scale", "eta", "score", "flops_speedup", "measured_speedup"} <= set(point)
    # Scaling ETA up can only remove more tokens.
    assert run["sweep"][1]["flops_speedup"] >= run["sweep"][0]["flops_speedup"] - 1e-9


def test_plot_and_table_are_written(results):
    with open(results / "sst2_minilm_32_tradeoff.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    table = open(results / "README.md").read()
    assert "| sst2 | all-MiniLM-L6-v2 | 32 | 64 | 32 |" in table
