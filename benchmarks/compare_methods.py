"""AdapLeR against the methods the paper compares with, on one harness: same backbone, fine-tuned model, data,
dev split and FLOPs counter, curves over seeds.

    python benchmarks/compare_methods.py --RECIPE=sst2_compare --SEEDS=42,43,44 --DATA_DIR=../shared/data
    python benchmarks/compare_methods.py --RECIPE=movies_compare --SEEDS=42 --METHODS=adapler,layer_drop

Per seed, one task directory under --WORK_DIR and one fine-tuned model that every method starts from. Each
method draws a curve over the budgets of the recipe's `budgets` (AdapLeR: ETA scales of its kept checkpoint;
`layer_drop`: student layers; `truncation`: target speedups; `power_bert`, `ltp`: penalty weights; `tr_bert`:
reward weights of the kept fraction). Every point is scored on the dev split with its FLOPs speedup over the
plain model at each example's unpadded length, and timed against the plain model, interleaved, at batch 1 (the
first --TIMING_EXAMPLES dev examples) and batched (--TIMING_BATCH_SIZE, every dev example, batches in split
order, not grouped by length). A point measured before with the same settings is taken from its task directory
or from the results JSON, which is rewritten after every point, so seeds (and the points of one seed) can land
in different sessions.

Writes `<RESULTS_DIR>/comparison_<task>_<max_length>.{json,md,png}`: every point per method and seed,
and the `matched` rows: each method's score at the recipe's speedups (interpolated on its curve in
log speedup), mean and range over seeds, with the paired bootstrap interval of AdapLeR minus the
method on the measured points nearest each speedup.
"""

import contextlib
import json
import os
import sys

from analysis.comparison import comparison_table, matched_rows, plot_comparison
from analysis.result_cache import SettingsChangedError, changed_settings, same_settings
from analysis.staged_runs import StagedRun
from analysis.timing import compare
from pipeline import cli, methods, recipes
from pipeline.atomic import write_json, write_text
from pipeline.evaluation import flops_report, predict, scaled_eta, score
from pipeline.flags import FLAGS, define_data_flags, define_recipe_flag, define_timing_flags
from pipeline.loading import best_finetuned
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today
from tasks.readers import DataError

import numpy as np
from absl import flags

define_recipe_flag()
define_data_flags()
define_timing_flags()
flags.DEFINE_list("SEEDS", ["42"], "Data seeds: one task directory and one fine-tuned model each.")
flags.DEFINE_list("METHODS", list(methods.METHODS), "Methods to compare (adapler, layer_drop, truncation, "
                  "power_bert, ltp, tr_bert).")
flags.DEFINE_list("MATCHED_SPEEDUPS", ["1.5", "2", "3"], "FLOPs speedups at which every method's curve is read.")
flags.DEFINE_string("WORK_DIR", os.path.join(REPO, "benchmarks", "work_compare"), "Root of the task directories.")
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")
flags.DEFINE_bool("RESUME", True, "Reuse artefacts and points measured with the same settings.")
flags.DEFINE_list("BUDGETS", [], "Only these budgets this run, in this order, as method=value (power_bert=0.01,"
                  "ltp=0.5): each one of the recipe's. A method not named runs all of its budgets; the results keep "
                  "the points of the budgets not run.")

MEASURE_FLAGS = ("TIMING_EXAMPLES", "TIMING_BATCH_SIZE", "TIMING_REPEATS")


def budget_label(flag, value):
    """`layers3`, `lambda0.0003`: names a point's run and cache file."""
    return f"{flag.lower()}{float(value):g}"


class Comparison(StagedRun):
    """The recipe's runs for one comparison, and each point's settings."""

    def __init__(self, recipe):
        super().__init__(recipe, FLAGS.WORK_DIR, FLAGS.DATA_DIR, FLAGS.HATEXPLAIN_TIES, FLAGS.RESUME)
        unknown = sorted(set(FLAGS.METHODS) - set(methods.METHODS))
        if unknown:
            raise DataError(f"--METHODS: unknown {', '.join(unknown)}; the methods are {', '.join(methods.METHODS)}.")
        missing = [method for method in FLAGS.METHODS if method not in recipe.budgets]
        if missing:
            raise DataError(f"The recipe gives no budgets for {', '.join(missing)}.")
        self.measure = {f"measure.{name}": FLAGS[name].value for name in MEASURE_FLAGS}
        self.budgets = chosen_budgets(recipe.budgets, FLAGS.METHODS, FLAGS.BUDGETS)

    def point_settings(self, method, flag, value):
        """`(settings, defaults)` a point depends on: its method's run (and the fine-tuning), and the timing."""
        if method == "adapler":
            settings, defaults = self.settings("finetune", "adapler"), dict(self.defaults)
        else:
            settings, defaults = self.baseline_settings(method, flag, value)
            settings.update(self.settings("finetune"))
            defaults.update(self.defaults)
        settings.update(self.measure, budget={flag: float(value)})
        return settings, defaults

    def results_path(self):
        return os.path.join(FLAGS.RESULTS_DIR, f"comparison_{self.task.name}_{self.max_length}.json")


def chosen_budgets(budgets, method_names, chosen):
    """`{method: (flag, values)}` to run: the recipe's `budgets` of `method_names`, only those `chosen` (see
    --BUDGETS) for a method named there."""
    picked = {}
    for item in chosen:
        method, _, value = item.partition("=")
        if method not in method_names:
            raise DataError(f"--BUDGETS {item}: {method!r} is not one of --METHODS ({', '.join(method_names)}).")
        flag, values = budgets[method]
        try:
            match = next(v for v in values if np.isclose(float(v), float(value)))
        except (StopIteration, ValueError):
            raise DataError(f"--BUDGETS {item}: the recipe's {method} budgets ({flag}) are "
                            f"{', '.join(str(v) for v in values)}.") from None
        picked.setdefault(method, []).append(match)
    return {method: (budgets[method][0], picked.get(method, budgets[method][1])) for method in method_names}


def earlier_points(path):
    """`{(method, seed): points}` of an earlier results JSON (read once: this run rewrites the file as it goes)."""
    if not os.path.isfile(path):
        return {}
    with open(path) as handle:
        result = json.load(handle)
    earlier = {(method, run["seed"]): run["points"] for method, entry in result.get("methods", {}).items()
               for run in entry["per_seed"]}
    # Points from before each point named its machine were all measured on the file's one machine.
    for points in earlier.values():
        for point in points:
            point.setdefault("machine", result.get("machine", "unknown"))
    return earlier


def current_points(comparison, method, seed, points):
    """The points of an earlier run measured with the settings the recipe gives them now; a line per point dropped
    (a recipe fix makes its points stale: a curve mixing them would mix two settings)."""
    flag, values = comparison.recipe.budgets[method]
    kept = []
    for point in points:
        # The recipe's own value (an int flag's budget is stored as a float); a budget it has no longer goes in
        # `put_run`.
        value = next((v for v in values if np.isclose(float(v), point["budget"])), None)
        changed = value is not None and changed_settings(point.get("settings", {}),
                                                         *comparison.point_settings(method, flag, value))
        if changed:
            print(f"dropping {method} {flag}={point['budget']:g} of seed {seed}, measured with other settings "
                  f"({'; '.join(changed)})", file=sys.stderr, flush=True)
        else:
            kept.append(point)
    return kept


def earlier_point(earlier, method, seed, settings, defaults):
    """The point of `earlier` (see `earlier_points`) measured with these settings, or None."""
    points = earlier.get((method, seed), [])
    return next((p for p in points if same_settings(p.get("settings", {}), settings, defaults)), None)


def measure_point(comparison, dirs, plain, dev, method, flag, value, reused):
    """One point: the method's model at one budget, scored, counted and timed against the plain model."""
    task = comparison.task
    if method == "adapler":
        model, record, model_dev = comparison.adapler_model(dirs), {}, dev
    else:
        checkpoint = comparison.baseline_trained(dirs, method, flag, value, budget_label(flag, value), reused)
        model, record = comparison.method_model(method, checkpoint)
        length = methods.input_length(record, comparison.max_length)
        model_dev = dev if length == comparison.max_length else comparison.dev_split(dirs.seed, length)[1]
    with scaled_eta(model, float(value)) if method == "adapler" else contextlib.nullcontext():
        outputs = predict(model, model_dev, FLAGS.TIMING_BATCH_SIZE, lr_mode=model.removes_tokens,
                          description=f"{method} {flag}={value}")
        flops = flops_report(model, task.num_labels, dev.lengths, outputs, baseline_config=plain.config,
                             model_input_lengths=model_dev.lengths)
        timing = {size: compare(plain, model, dev, size, FLAGS.TIMING_REPEATS,
                                limit=FLAGS.TIMING_EXAMPLES if size == 1 else None, model_encoded=model_dev)
                  for size in (1, FLAGS.TIMING_BATCH_SIZE)}
    correct = np.argmax(outputs["logits"], axis=-1) == dev.labels
    point = {
        "budget": float(value), "score": score(task, dev.labels, outputs["logits"])[task.metrics[0]],
        "flops_speedup": flops["speedup"], "wallclock_b1": timing[1]["measured_speedup"],
        "wallclock_b32": timing[FLAGS.TIMING_BATCH_SIZE]["measured_speedup"],
        "finetuned_score": best_finetuned(task, dirs)[1],
        "correct": "".join("1" if c else "0" for c in correct),
        "mean_layer_lengths": None if outputs["lengths"] is None else outputs["lengths"].mean(axis=0).tolist(),
        "learned": {key: record[key] for key in ("layers", "keep_length", "retention_configuration", "thresholds",
                                                 "points", "epoch", "dev_score") if key in record},
    }
    print(f"== seed {dirs.seed}, {method} {flag}={value}: {task.metrics[0]} {point['score']:.4f} at "
          f"{point['flops_speedup']:.2f}x FLOPs, {point['wallclock_b1']:.2f}x b=1, {point['wallclock_b32']:.2f}x "
          f"b={FLAGS.TIMING_BATCH_SIZE}", flush=True)
    return point


def measure_seed(comparison, seed, earlier):
    """Yields `(method, points so far)` on one seed after every point, measured or taken from a cache."""
    dirs = comparison.task_dir(seed)
    reused = None
    plain = dev = None
    adapler_ready = False
    # Which fine-tuned model the directory's points start from: a point cached here from another one (stage 1
    # rerun since) is measured again. Points of the results JSON are kept whatever model they name, since their
    # directory is gone; the table shows which model each started from.
    finetuned_model = comparison.finetuned_digest(dirs)
    for method in FLAGS.METHODS:
        flag, values = comparison.budgets[method]
        points = []
        for value in values:
            settings, defaults = comparison.point_settings(method, flag, value)
            cache = dirs.log(f"compare_{method}_{budget_label(flag, value)}.json")
            point = None
            if FLAGS.RESUME and os.path.isfile(cache):
                with open(cache) as handle:
                    point = json.load(handle)
                point.setdefault("finetuned_model", finetuned_model)
                point = point if (same_settings(point.get("settings", {}), settings, defaults)
                                  and point["finetuned_model"] == finetuned_model) else None
            point = point or (FLAGS.RESUME and earlier_point(earlier, method, seed, settings, defaults))
            if not point:
                if reused is None:
                    reused = comparison.finetuned(dirs)
                    finetuned_model = comparison.finetuned_digest(dirs)
                    plain = comparison.plain_model(dirs)
                    dev = comparison.dev_split(seed)[1]
                if method == "adapler" and not adapler_ready:
                    # Once per process: a checkpoint trained here is up to date for every later point.
                    comparison.adapler_trained(dirs, reused)
                    adapler_ready = True
                point = dict(measure_point(comparison, dirs, plain, dev, method, flag, value, reused),
                             settings=settings, date=today(), machine=machine(), finetuned_model=finetuned_model)
                write_json(cache, point)
            points.append(point)
            yield method, points


def put_run(comparison, result, method, seed, points):
    """Puts `points` in the run of `method` on `seed` in `result`, and the seed's fine-tuned score. Its points at
    other budgets of the recipe stay (not reached yet, or not in --BUDGETS); those at budgets the recipe no longer
    has go."""
    flag, values = comparison.recipe.budgets[method]
    entry = result["methods"].setdefault(method, {"budget_flag": flag, "per_seed": []})
    kept = [p for run in entry["per_seed"] if run["seed"] == seed for p in run["points"]
            if p["budget"] in {float(v) for v in values} and all(p["budget"] != q["budget"] for q in points)]
    entry["per_seed"] = [run for run in entry["per_seed"] if run["seed"] != seed] + [
        {"seed": seed, "points": sorted(kept + list(points), key=lambda p: p["budget"])}]
    if all(run["seed"] != seed for run in result["finetuned"]):
        result["finetuned"].append({"seed": seed, "score": points[0]["finetuned_score"]})


def write_results(comparison, result):
    """The results JSON, table and plot of every point so far (a session that stops keeps what it measured)."""
    result = dict(result, matched=matched_rows(result, [float(s) for s in FLAGS.MATCHED_SPEEDUPS]),
                  command=command_line(sys.argv),
                  # Wall-clock ratios are measured within one process, so points from several machines compare.
                  machine="; ".join(sorted({p.get("machine", machine()) for m in result["methods"].values()
                                            for r in m["per_seed"] for p in r["points"]})),
                  date=max(p["date"] for m in result["methods"].values() for r in m["per_seed"] for p in r["points"]))
    stem = os.path.splitext(comparison.results_path())[0]
    write_json(stem + ".json", result)
    write_text(stem + ".md", comparison_table(result))
    plot_comparison(result, stem + ".png")
    return result


def main(argv):
    del argv
    if not FLAGS.RECIPE:
        raise DataError(f"--RECIPE is required; the recipes are {', '.join(sorted(recipes.RECIPES))}.")
    comparison = Comparison(recipes.get_recipe(FLAGS.RECIPE))
    seeds = [int(seed) for seed in FLAGS.SEEDS]
    result = {"task": comparison.task.name, "backbone": comparison.backbone, "max_length": comparison.max_length,
              "metric": comparison.task.metrics[0], "recipe": FLAGS.RECIPE, "seeds": seeds, "methods": {},
              "finetuned": []}
    earlier = earlier_points(comparison.results_path())
    # The file keeps every earlier point this run does not measure again (other methods and seeds, and those
    # not reached yet), so a run of one method, or one stopped early, loses nothing the file had.
    for (method, seed), points in earlier.items():
        points = current_points(comparison, method, seed, points)
        if points:
            put_run(comparison, result, method, seed, points)
    result["seeds"] = sorted(set(seeds) | {seed for _, seed in earlier})
    try:
        for seed in seeds:
            for method, points in measure_seed(comparison, seed, earlier):
                put_run(comparison, result, method, seed, points)
                written = write_results(comparison, result)
    except SettingsChangedError as error:
        raise DataError(str(error)) from None
    print(comparison_table(written), flush=True)


if __name__ == "__main__":
    cli.run(main, section="measure")
