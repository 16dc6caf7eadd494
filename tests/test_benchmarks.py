"""The reproduction benchmark on the `quick` recipe (a tiny real slice): caching, results schema, plot and table;
and the timing helpers it measures with."""

import json
import os
import subprocess
import sys

from analysis.reproduction_report import update_speed_table
from analysis.result_cache import earlier_result, same_settings
from analysis.timing import interleaved_medians, layer_bound_speedup, layer_time_curve
from pipeline.paths import REPO
from pipeline.provenance import command_line
from pipeline.recipes import get_recipe, write_recipe
from tests.tiny import save_tiny_backbone, tiny_model

import numpy as np
import pytest
import tensorflow as tf

HEADLINE = {"baseline_score", "adapler_score", "drop", "flops_speedup", "measured_speedup_batch1",
            "measured_speedup_batched", "layer_bound_speedup_batch1"}
RUN_KEYS = {"task", "backbone", "max_length", "train_examples", "eval_examples", "range", "seeds", "per_seed",
            "command", "machine", "date"} | HEADLINE
slow = pytest.mark.slow


def _reproduce(recipe, results_dir, work_dir, data_dir, *extra, succeed=True):
    command = [sys.executable, os.path.join(REPO, "benchmarks", "reproduce.py"), f"--RECIPE={recipe}", "--SEEDS=1,2",
               f"--RESULTS_DIR={results_dir}", f"--WORK_DIR={work_dir}", f"--DATA_DIR={data_dir}", *extra]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert (result.returncode == 0) == succeed, result.stderr[-3000:]
    return result


def _again(work, results_dir, data_dir, *extra, succeed=True):
    """The fixture's benchmark again, in its work directory, with `extra` flags."""
    return _reproduce(work["recipe"], results_dir, work["work"], data_dir, *extra, succeed=succeed)


def _cache(work_dir, seed):
    return next((work_dir / "tinybert" / str(seed) / "sst2" / "logs").glob("reproduce_bench_*_32.json"))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """The quick recipe on a tiny random backbone (the real data, faster stages), as a recipe file."""
    folder = tmp_path_factory.mktemp("recipe")
    backbone = save_tiny_backbone(folder / "tinybert")
    path = str(folder / "quick_tiny.json")
    write_recipe(get_recipe("quick").with_values("common", {"BASE_MODEL": backbone}), path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory, data_dir, recipe):
    """Two seeds of the quick recipe; then seed 2's cached result loses its drop interval and the run is repeated."""
    results_dir, work_dir = tmp_path_factory.mktemp("results"), tmp_path_factory.mktemp("work")
    _reproduce(recipe, results_dir, work_dir, data_dir)
    measured = json.loads(_cache(work_dir, 2).read_text())
    interval = measured.pop("drop_ci95")
    _cache(work_dir, 2).write_text(json.dumps(measured))
    rerun = _reproduce(recipe, results_dir, work_dir, data_dir)
    return {"results": results_dir, "work": work_dir, "rerun": rerun, "interval": interval, "recipe": recipe}


@pytest.fixture(scope="module")
def results(work):
    return work["results"]


@slow
def test_each_stage_trains_with_its_section_of_the_recipe(work):
    logs = work["work"] / "tinybert" / "1" / "sst2" / "logs"
    # Fine-tuning trains on the common batch of 32, stage 3 on the recipe's adapler batch of 16.
    assert "global batch 32" in (logs / "finetune.log").read_text()
    adapler_log = "".join(path.read_text() for path in logs.glob("bench_*.log"))
    assert "global batch 16" in adapler_log
    assert "epoch 1: lambda=50 " in adapler_log and "examples with at least 6 tokens" in adapler_log
    assert "'GROUP_BY_LENGTH': True" in adapler_log and "distilling the starting model (weight 0.5" in adapler_log
    assert "epoch 1, ETA x1, later layers x2: accuracy=" in adapler_log


@slow
def test_a_second_run_measures_nothing_again_and_backfills_a_missing_drop_interval(work):
    rerun = work["rerun"]
    assert "== seed 1: measured before" in rerun.stdout and "== seed 2: measured before" in rerun.stdout
    assert "run_classification" not in rerun.stdout
    # The interval recomputed from the checkpoints is the one measured the first time.
    assert json.loads(_cache(work["work"], 2).read_text())["drop_ci95"] == work["interval"]
    assert json.load(open(work["results"] / "sst2_tinybert_32.json"))["per_seed"][1]["drop_ci95"] == work["interval"]


@slow
def test_resuming_with_other_training_settings_is_refused_before_any_stage_runs(work, data_dir, tmp_path):
    refused = _again(work, tmp_path, data_dir, "--SET=finetune.LEARNING_RATE=1e-4", succeed=False)
    assert "finetune.LEARNING_RATE 5e-05 -> 0.0001" in refused.stderr and "--RESUME=false" in refused.stderr
    assert "== seed" not in refused.stdout and not os.listdir(tmp_path)


@slow
def test_a_malformed_change_is_refused_in_one_line(work, data_dir, tmp_path):
    refused = _again(work, tmp_path, data_dir, "--SET=LEARNING_RATE=1e-4", succeed=False)
    assert "error: --SET=LEARNING_RATE=1e-4: write <section>.<FLAG>=<value>" in refused.stderr


@slow
def test_other_timing_flags_measure_again_without_retraining(work, data_dir, tmp_path):
    rerun = _again(work, tmp_path, data_dir, "--SEEDS=1", "--TIMING_BATCH_SIZE=16")
    assert "measured before" not in rerun.stdout and "run_classification" not in rerun.stdout
    assert json.load(open(tmp_path / "sst2_tinybert_32.json"))["batched"]["batch_size"] == 16


@slow
def test_a_training_record_from_before_a_flag_existed_counts_the_flag_at_its_default(work, data_dir, tmp_path):
    logs = work["work"] / "tinybert" / "1" / "sst2" / "logs"
    record = next(logs.glob("benchmark_bench_*.json"))
    saved = json.loads(record.read_text())
    try:
        assert saved.pop("adapler.LATE_ETA_FACTORS") == ["1", "2"]
        record.write_text(json.dumps(saved))
        # Recorded without the flag, the run behaved as its default (1), which is not this run's 1,2.
        # Another timing batch size measures again, so the training records are checked.
        refused = _again(work, tmp_path, data_dir, "--SEEDS=1", "--TIMING_BATCH_SIZE=8", succeed=False)
        assert "adapler.LATE_ETA_FACTORS ['1'] -> ['1', '2']" in refused.stderr
        rerun = _again(work, tmp_path, data_dir, "--SEEDS=1", "--SET=adapler.LATE_ETA_FACTORS=1",
                           "--TIMING_BATCH_SIZE=8")
        assert "run_classification_w_lr" not in rerun.stdout
    finally:
        saved["adapler.LATE_ETA_FACTORS"] = ["1", "2"]
        record.write_text(json.dumps(saved))


@slow
def test_seeds_in_the_results_are_not_run_again_without_their_work_directory(work, results, data_dir, tmp_path):
    earlier = json.load(open(results / "sst2_tinybert_32.json"))
    # A record from before --DISTILL_TEMPERATURE existed ran at its default, which this run uses too.
    del earlier["per_seed"][0]["settings"]["adapler.DISTILL_TEMPERATURE"]
    earlier["per_seed"][0]["date"], earlier["per_seed"][1]["date"] = "2026-01-03", "2026-01-02"
    (tmp_path / "results").mkdir()
    with open(tmp_path / "results" / "sst2_tinybert_32.json", "w") as handle:
        json.dump(earlier, handle)
    rerun = _reproduce(work["recipe"], tmp_path / "results", tmp_path / "empty_work", data_dir)
    assert "== seed 1: measured before, in " in rerun.stdout and "== seed 2: measured before, in " in rerun.stdout
    assert "run_classification" not in rerun.stdout and not (tmp_path / "empty_work").exists()
    again = json.load(open(tmp_path / "results" / "sst2_tinybert_32.json"))
    assert again["per_seed"] == earlier["per_seed"] and again["flops_speedup"] == earlier["flops_speedup"]
    # Nothing was measured today: the run is dated by its newest measurement.
    assert again["date"] == "2026-01-03"


@slow
def test_a_result_whose_checkpoints_no_longer_give_its_scores_gets_no_interval(work, data_dir, tmp_path):
    cache = _cache(work["work"], 2)
    measured = json.loads(cache.read_text())
    try:
        stale = {key: value for key, value in measured.items() if key != "drop_ci95"}
        cache.write_text(json.dumps(dict(stale, baseline_score=measured["baseline_score"] - 0.5)))
        rerun = _again(work, tmp_path, data_dir, "--SEEDS=2")
        assert "== seed 2: measured before" in rerun.stdout and "no interval added" in rerun.stdout
        assert "drop_ci95" not in json.loads(cache.read_text())
    finally:
        cache.write_text(json.dumps(measured))


@pytest.mark.parametrize(
    "saved, matches",
    [
        ({"GAMMA": 0.5, "PHI": 0.003}, True),
        ({"GAMMA": 0.5}, True),  # PHI added after the record: it ran at the default, 0.003
        ({"GAMMA": 0.5, "PHI": 0.002}, False),
        ({"GAMMA": 0.05, "PHI": 0.003}, False),
    ],
)
def test_same_settings_counts_a_missing_flag_at_its_default(saved, matches):
    assert same_settings(saved, {"GAMMA": 0.5, "PHI": 0.003}, {"GAMMA": 0.005, "PHI": 0.003}) is matches


def test_earlier_result_finds_the_seed_measured_with_the_same_settings(tmp_path):
    path = tmp_path / "run.json"
    assert earlier_result(str(path), 42, {"PHI": 1}, {"PHI": 0}) is None
    per_seed = [{"seed": 42, "settings": {"PHI": 2}, "flops_speedup": 2.0},
                {"seed": 43, "settings": {"PHI": 1}, "flops_speedup": 3.0}]
    with open(path, "w") as handle:
        json.dump({"per_seed": per_seed}, handle)
    assert earlier_result(str(path), 43, {"PHI": 1}, {"PHI": 0})["flops_speedup"] == 3.0
    assert earlier_result(str(path), 42, {"PHI": 1}, {"PHI": 0}) is None
    assert earlier_result(str(path), 44, {"PHI": 1}, {"PHI": 0}) is None


@slow
def test_speed_json_lists_the_run_with_every_required_key(results):
    runs = json.load(open(results / "speed.json"))["runs"]
    assert len(runs) == 1 and set(runs[0]) == RUN_KEYS
    run = runs[0]
    assert run["seeds"] == [1, 2] and [r["seed"] for r in run["per_seed"]] == [1, 2]
    for key in HEADLINE:
        values = [r[key] for r in run["per_seed"]]
        assert run[key] == pytest.approx(np.mean(values)) and run["range"][key] == [min(values), max(values)]
    assert run["drop"] == pytest.approx(run["baseline_score"] - run["adapler_score"])
    for seed_run in run["per_seed"]:
        low, high = seed_run["drop_ci95"]
        assert low <= seed_run["drop"] <= high
    assert run["task"] == "sst2" and run["max_length"] == 32 and run["train_examples"] == 64
    assert run["eval_examples"] == 32
    for key in ("baseline_score", "adapler_score"):
        assert 0.0 <= run[key] <= 1.0
    for key in ("flops_speedup", "measured_speedup_batch1", "measured_speedup_batched", "layer_bound_speedup_batch1"):
        assert run[key] > 0
    assert "reproduce.py" in run["command"] and "cores" in run["machine"]


@slow
def test_run_json_holds_timings_and_the_sweep(results):
    run = json.load(open(results / "sst2_tinybert_32.json"))
    assert run["batch1"]["batch_size"] == 1 and run["batched"]["batch_size"] == 32
    assert [p["scale"] for p in run["sweep"]] == [1.0, 2.0]
    for point in run["sweep"]:
        assert {"scale", "eta", "score", "flops_speedup", "measured_speedup"} <= set(point)
    # Scaling ETA up can only remove more tokens.
    assert run["sweep"][1]["flops_speedup"] >= run["sweep"][0]["flops_speedup"] - 1e-9


@slow
def test_plot_and_table_are_written(results):
    with open(results / "sst2_tinybert_32_tradeoff.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    table = open(results / "README.md").read()
    run = json.load(open(results / "sst2_tinybert_32.json"))
    row = next(line for line in table.splitlines() if line.startswith(f"| sst2 | {run['backbone']} | 32 | 64 | 32 | 1, 2 |"))
    intervals = ", ".join(f"{100 * low:.1f} to {100 * high:.1f}" for low, high in (r["drop_ci95"] for r in run["per_seed"]))
    assert f"| {intervals} |" in row


def test_table_names_each_runs_own_machine(tmp_path):
    def run(task, machine_name):
        headline = {key: 1.0 for key in HEADLINE}
        return dict(headline, task=task, backbone="b", max_length=8, train_examples=1, eval_examples=1, seeds=[42],
                    range={key: [1.0, 1.0] for key in HEADLINE}, per_seed=[dict(headline, seed=42)],
                    command=f"python reproduce.py --TASK={task}", machine=machine_name, date="2026-01-01")

    update_speed_table(tmp_path, run("sst2", "machine A"))
    update_speed_table(tmp_path, run("rte", "machine B"))
    table = open(tmp_path / "README.md").read()
    assert "- `python reproduce.py --TASK=sst2` (machine A)" in table
    assert "- `python reproduce.py --TASK=rte` (machine B)" in table
    # Measured before the drop's interval was recorded: none shown.
    assert "| 1.0000 | 1.0000 | - | 1.00x |" in table


@pytest.mark.parametrize(
    "curve, plain, adapler, expected",
    [
        # Time proportional to length: the bound is the ratio of token-layers, 2*16 / (16+8).
        (([8, 64], [8.0, 64.0]), [16], [[16, 8]], 32 / 24),
        # Time independent of length: removing tokens cannot help.
        (([8, 64], [2.0, 2.0]), [40, 30], [[40, 8], [30, 9]], 1.0),
        # Linear interpolation between timed lengths: T(12) = 2, T(8) = 1 (lengths below 8 clamp to T(8)).
        (([8, 16], [1.0, 3.0]), [12], [[12, 4]], 4 / 3),
    ],
)
def test_layer_bound_speedup(curve, plain, adapler, expected):
    assert layer_bound_speedup(curve, plain, adapler) == pytest.approx(expected)


def test_layer_time_curve_times_increasing_lengths_up_to_the_maximum():
    lengths, seconds = layer_time_curve(tiny_model(adapler=False), batch_size=2, max_length=40, repeats=2)
    assert lengths == [8, 16, 32, 40]
    assert len(seconds) == 4 and np.all(np.asarray(seconds) > 0)


def test_interleaved_medians_alternates_the_calls_and_keeps_one_median_each():
    order = []

    def recorder(name):
        def call(value):
            order.append(name)
            return tf.constant(value)
        return call

    medians = interleaved_medians([(recorder("a"), (1.0,)), (recorder("b"), (2.0,))], repeats=3)
    assert order == ["a", "b"] * 3
    assert len(medians) == 2 and all(m > 0 for m in medians)


def test_recorded_commands_carry_no_absolute_paths():
    argv = [os.path.join(REPO, "benchmarks", "reproduce.py"), "--TASK=sst2",
            f"--DATA_DIR={os.path.join(os.path.dirname(REPO), 'shared', 'data')}", "--WORK_DIR=relative/work"]
    assert command_line(argv) == ("python benchmarks/reproduce.py --TASK=sst2 --DATA_DIR=../shared/data "
                                  "--WORK_DIR=relative/work")
