"""`benchmarks/compare_methods.py` on the `quick` recipe with a tiny backbone: the results' schema, resuming from
the results alone, and a run that fails part-way keeping the points it measured."""

import json
import os
import subprocess
import sys

from pipeline.paths import REPO
from pipeline.recipes import get_recipe, write_recipe
from tests.tiny import save_tiny_backbone

import pytest

slow = pytest.mark.slow
METHODS = "adapler,layer_drop,truncation"
POINT_KEYS = {"budget", "score", "flops_speedup", "wallclock_b1", "wallclock_b32", "correct", "settings", "date"}
RESULTS = "comparison_sst2_32.json"


def _compare(recipe, results_dir, work_dir, data_dir, methods=METHODS, succeed=True, extra=()):
    command = [sys.executable, os.path.join(REPO, "benchmarks", "compare_methods.py"), f"--RECIPE={recipe}",
               "--SEEDS=1", f"--METHODS={methods}", f"--RESULTS_DIR={results_dir}", f"--WORK_DIR={work_dir}",
               f"--DATA_DIR={data_dir}", *extra]
    result = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE="1"),
                            timeout=900)
    assert (result.returncode == 0) == succeed, result.stderr[-3000:]
    return result


def _tiny_recipe(folder, backbone, **budgets):
    """The quick recipe on the tiny 2-layer `backbone` with `budgets` changed, as a recipe file."""
    recipe = get_recipe("quick").with_values("common", {"BASE_MODEL": backbone})
    recipe = recipe.with_values("budgets", {"layer_drop": ["LAYERS", [1, 2]], **budgets})
    path = str(folder / f"compare_{len(budgets)}.json")
    write_recipe(recipe, path)
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory, data_dir):
    folder = tmp_path_factory.mktemp("compare")
    backbone = save_tiny_backbone(folder / "tinybert")
    recipe = _tiny_recipe(folder, backbone)
    run = _compare(recipe, folder / "results", folder / "work", data_dir)
    return {"folder": folder, "backbone": backbone, "recipe": recipe, "run": run,
            "result": json.loads((folder / "results" / RESULTS).read_text())}


@slow
def test_every_method_has_its_points_with_scores_speedups_and_timings(compared):
    methods = compared["result"]["methods"]
    assert list(methods) == METHODS.split(",")
    for method, entry in methods.items():
        points = entry["per_seed"][0]["points"]
        assert entry["per_seed"][0]["seed"] == 1 and len(points) == 2, method
        for point in points:
            assert POINT_KEYS <= set(point) and point["flops_speedup"] > 0 and 0 <= point["score"] <= 1
            assert len(point["correct"]) == 32  # the quick recipe's 32 dev examples
    # Two layers of two keep every FLOP; one layer of two halves the encoder's (the classifier stays).
    depth = {p["budget"]: p["flops_speedup"] for p in methods["layer_drop"]["per_seed"][0]["points"]}
    assert depth[2] == pytest.approx(1.0) and 1.5 < depth[1] <= 2


@slow
def test_matched_rows_cover_every_method_at_every_speedup_and_the_table_and_plot_are_written(compared):
    rows = compared["result"]["matched"]
    assert sorted((row["speedup"], row["method"]) for row in rows) == sorted(
        (speedup, method) for speedup in (1.2, 1.5) for method in METHODS.split(","))
    table = (compared["folder"] / "results" / "comparison_sst2_32.md").read_text()
    assert "| AdapLeR | ETA_SCALE=2 | 1 |" in table and "static depth" in table
    assert (compared["folder"] / "results" / "comparison_sst2_32.png").stat().st_size > 10_000


@slow
def test_a_run_with_only_the_results_measures_nothing_again(compared, data_dir, tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / RESULTS).write_text(json.dumps(compared["result"]))
    rerun = _compare(compared["recipe"], tmp_path / "results", tmp_path / "empty_work", data_dir)
    assert "== seed 1" not in rerun.stdout and not (tmp_path / "empty_work").exists()
    again = json.loads((tmp_path / "results" / RESULTS).read_text())
    assert again["methods"] == compared["result"]["methods"] and again["date"] == compared["result"]["date"]
    # A run of one method keeps the other methods' points in the file.
    _compare(compared["recipe"], tmp_path / "results", tmp_path / "empty_work", data_dir, methods="truncation")
    assert json.loads((tmp_path / "results" / RESULTS).read_text())["methods"] == compared["result"]["methods"]


@slow
def test_budgets_runs_only_the_named_budgets_and_the_results_keep_the_others(compared, data_dir, tmp_path):
    result = json.loads(json.dumps(compared["result"]))
    depth = result["methods"]["layer_drop"]["per_seed"][0]
    depth["points"] = [p for p in depth["points"] if p["budget"] == 2]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / RESULTS).write_text(json.dumps(result))
    # LAYERS=1 is in the results no longer and the work directory is empty: only LAYERS=2 is asked for, so
    # nothing is trained or measured, and the file keeps what it had.
    rerun = _compare(compared["recipe"], tmp_path / "results", tmp_path / "empty_work", data_dir,
                     methods="layer_drop,truncation", extra=["--BUDGETS=layer_drop=2,truncation=1.5"])
    assert "== seed 1" not in rerun.stdout and not (tmp_path / "empty_work").exists()
    assert json.loads((tmp_path / "results" / RESULTS).read_text())["methods"] == result["methods"]


@slow
def test_a_point_measured_with_settings_the_recipe_no_longer_gives_leaves_the_results(compared, data_dir, tmp_path):
    result = json.loads(json.dumps(compared["result"]))
    depth = result["methods"]["layer_drop"]["per_seed"][0]["points"]
    stale = next(p for p in depth if p["budget"] == 1)
    stale["settings"]["baseline.LEARNING_RATE"] = 0.5
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / RESULTS).write_text(json.dumps(result))
    # Only truncation runs, from the results: the stale layer_drop point goes, its other point stays.
    rerun = _compare(compared["recipe"], tmp_path / "results", tmp_path / "empty_work", data_dir, methods="truncation")
    assert "dropping layer_drop LAYERS=1 of seed 1, measured with other settings (baseline.LEARNING_RATE 0.5 -> " \
        in rerun.stderr
    kept = json.loads((tmp_path / "results" / RESULTS).read_text())["methods"]["layer_drop"]["per_seed"][0]["points"]
    assert kept == [p for p in depth if p["budget"] != 1] and len(kept) == 1


@pytest.mark.parametrize("budgets, message", [
    ("layer_drop=3", "--BUDGETS layer_drop=3: the recipe's layer_drop budgets (LAYERS) are 2, 4."),
    ("layer_drop=two", "--BUDGETS layer_drop=two: the recipe's layer_drop budgets (LAYERS) are 2, 4."),
    ("ltp=0.1", "--BUDGETS ltp=0.1: 'ltp' is not one of --METHODS (layer_drop)."),
])
def test_budgets_outside_the_recipe_or_the_methods_are_refused_in_one_line(data_dir, tmp_path, budgets, message):
    failed = _compare("quick", tmp_path, tmp_path / "work", data_dir, methods="layer_drop", succeed=False,
                      extra=[f"--BUDGETS={budgets}"])
    assert message in failed.stderr and "Traceback" not in failed.stderr and not (tmp_path / "work").exists()


@slow
def test_a_run_that_fails_part_way_keeps_the_points_before_the_failure(compared, data_dir, tmp_path):
    # A 99-layer student of a 2-layer teacher fails in run_baseline.py, after the 1-layer point.
    recipe = _tiny_recipe(tmp_path, compared["backbone"], layer_drop=["LAYERS", [1, 99]])
    failed = _compare(recipe, tmp_path / "results", compared["folder"] / "work", data_dir, methods="layer_drop",
                      succeed=False)
    assert "cannot come from a teacher of 2" in failed.stderr
    kept = json.loads((tmp_path / "results" / RESULTS).read_text())["methods"]["layer_drop"]["per_seed"][0]["points"]
    assert kept == compared["result"]["methods"]["layer_drop"]["per_seed"][0]["points"][:1]
