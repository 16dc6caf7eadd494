"""One reproduction run of a recipe: all stages, then scores, FLOPs and wall-clock speedups and a trade-off curve.

    python benchmarks/reproduce.py --RECIPE=sst2_distill --SEEDS=42,43,44 --DATA_DIR=../shared/data
    python benchmarks/reproduce.py --RECIPE=movies_512 --SEEDS=42 --WORK_DIR=benchmarks/work512
    python benchmarks/reproduce.py --RECIPE=quick --RESULTS_DIR=/tmp/r            # tiny slice (tests)
    python benchmarks/reproduce.py --RECIPE=sst2_table --SET=adapler.PHI=0.003    # a recipe with one change

Each seed gets its own task directory under --WORK_DIR, where the stages run as subprocesses with
the recipe (and the --SET changes) written to `logs/benchmark_recipe.json`. Stages whose artefacts
exist are skipped (`--RESUME`), so an interrupted run picks up where it stopped; the settings each
artefact was made with are recorded beside it, and artefacts made with other settings are refused
rather than silently reused. A seed that the results JSON already holds, measured with the same
settings, is taken from there: work directories need not survive between sessions. Writes
`<RESULTS_DIR>/<task>_<backbone>_<max_length>.json`, a trade-off plot `..._tradeoff.png`, adds the
run to `speed.json` and rewrites the `README.md` table.
"""

import json
import os
import sys

from analysis.reproduction_report import HEADLINE_KEYS, plot_tradeoff, update_speed_table
from analysis.result_cache import SettingsChangedError, earlier_result, same_settings
from analysis.significance import drop_interval
from analysis.staged_runs import StagedRun, with_changes
from analysis.timing import compare, eta_sweep, layer_time_curve
from models.backbones import backbone_label
from pipeline import cli, recipes
from pipeline.atomic import write_json
from pipeline.evaluation import flops_report, predict, score
from pipeline.flags import FLAGS, define_data_flags, define_recipe_flag, define_timing_flags
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today
from tasks.readers import DataError
from tasks.registry import load_split

import numpy as np
from absl import flags

define_recipe_flag()
define_data_flags()
define_timing_flags()
flags.DEFINE_integer("SWEEP_TIMING_EXAMPLES", 128, "Dev examples timed (batched) per sweep point.", lower_bound=1)
flags.DEFINE_list("SCALES", "0,0.5,0.75,1,1.5,2",
                  "ETA scales of the trade-off sweep (0: nothing removed, which measures the CP overhead).")
flags.DEFINE_list("SEEDS", ["42"], "Data seeds: one full run each (task directory <WORK_DIR>/<backbone>/<seed>/); "
                  "the results give every seed and the mean with min-max.")
flags.DEFINE_multi_string("SET", [], "A change to the recipe, <section>.<FLAG>=<value> (sections: common, finetune, "
                          "adapler), e.g. --SET=adapler.PHI=0.003; repeat for several.")
flags.DEFINE_string("WORK_DIR", os.path.join(REPO, "benchmarks", "work"), "Root of the benchmark's task directories.")
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")
flags.DEFINE_bool("RESUME", True, "Reuse stages whose artefacts exist, and seeds measured before.")

MEASURE_FLAGS = ("TIMING_EXAMPLES", "TIMING_BATCH_SIZE", "TIMING_REPEATS", "SWEEP_TIMING_EXAMPLES", "SCALES")


class Run(StagedRun):
    """The recipe's stages, plus the measurement settings of this benchmark (`"measure.SCALES"`)."""

    def __init__(self, recipe):
        super().__init__(recipe, FLAGS.WORK_DIR, FLAGS.DATA_DIR, FLAGS.HATEXPLAIN_TIES, FLAGS.RESUME)
        self.defaults.update({f"measure.{name}": FLAGS[name].default for name in MEASURE_FLAGS})

    def settings(self, *sections):
        values = super().settings(*(section for section in sections if section != "measure"))
        if "measure" in sections:
            values.update({f"measure.{name}": FLAGS[name].value for name in MEASURE_FLAGS})
        return values

    def results_path(self):
        """`<RESULTS_DIR>/<task>_<backbone>_<max_length>.json`: every seed's result in `per_seed`."""
        return os.path.join(FLAGS.RESULTS_DIR, f"{self.task.name}_{backbone_label(self.backbone)}_"
                                               f"{self.max_length}.json")


def scored(run, dev, plain, adapler):
    """Both models on the dev examples: `(plain logits, AdapLeR's outputs, fine-tuned score, AdapLeR's score)`."""
    metric, batch = run.task.metrics[0], run.adapler["BATCH_SIZE"]
    plain_logits = predict(plain, dev, batch)["logits"]
    outputs = predict(adapler, dev, batch, lr_mode=True)
    return (plain_logits, outputs, score(run.task, dev.labels, plain_logits)[metric],
            score(run.task, dev.labels, outputs["logits"])[metric])


def load_models(run, dirs):
    return run.plain_model(dirs), run.adapler_model(dirs)


def with_drop_interval(run, dirs, measured, cached):
    """`measured` with its `drop_ci95`, computed for a result from before the field when its checkpoints are here.

    The scores are computed again first: a checkpoint that no longer gives the recorded scores is not the
    one measured, and the result is left as it was.
    """
    if "drop_ci95" in measured or not os.path.isfile(dirs.adapler_model(run.name)):
        return measured
    _, dev = run.dev_split(measured["seed"])
    plain_logits, outputs, *rescored = scored(run, dev, *load_models(run, dirs))
    if not np.allclose(rescored, (measured["baseline_score"], measured["adapler_score"]), rtol=0, atol=1e-6):
        print(f"== seed {measured['seed']}: the checkpoints now score {rescored[0]:.4f} and {rescored[1]:.4f}, not "
              f"the recorded {measured['baseline_score']:.4f} and {measured['adapler_score']:.4f}; no interval added",
              flush=True)
        return measured
    measured = dict(measured, drop_ci95=drop_interval(run.task, dev.labels, plain_logits, outputs["logits"]))
    write_json(cached, measured)
    return measured


def measure_seed(run, seed):
    """Stages (resumed where they stopped) and measurements of one data seed; cached in its task directory."""
    dirs = run.task_dir(seed)
    cached = dirs.log(f"reproduce_{run.name}_{run.max_length}.json")
    settings = run.settings("finetune", "adapler", "measure")
    if FLAGS.RESUME and os.path.isfile(cached):
        with open(cached) as handle:
            measured = json.load(handle)
        if same_settings(measured.get("settings", {}), settings, run.defaults):
            print(f"== seed {seed}: measured before, {cached}", flush=True)
            return with_drop_interval(run, dirs, measured, cached)
    measured = FLAGS.RESUME and earlier_result(run.results_path(), seed, settings, run.defaults)
    if measured:
        print(f"== seed {seed}: measured before, in {run.results_path()}", flush=True)
        return with_drop_interval(run, dirs, measured, cached)
    run.adapler_trained(dirs, run.finetuned(dirs))

    split, dev = run.dev_split(seed)
    plain, adapler = load_models(run, dirs)
    metric, max_length = run.task.metrics[0], run.max_length
    plain_logits, outputs, baseline, adapler_score = scored(run, dev, plain, adapler)
    flops = flops_report(adapler, run.task.num_labels, dev.lengths, outputs)
    batch1 = compare(plain, adapler, dev, 1, FLAGS.TIMING_REPEATS, limit=FLAGS.TIMING_EXAMPLES,
                     curve=layer_time_curve(plain, 1, max_length))
    batched = compare(plain, adapler, dev, FLAGS.TIMING_BATCH_SIZE, FLAGS.TIMING_REPEATS,
                      curve=layer_time_curve(plain, FLAGS.TIMING_BATCH_SIZE, max_length, repeats=3))
    sweep = eta_sweep(adapler, dev, FLAGS.TIMING_BATCH_SIZE, [float(s) for s in FLAGS.SCALES],
                      lambda logits: score(run.task, dev.labels, logits)[metric],
                      timing=(plain, FLAGS.SWEEP_TIMING_EXAMPLES))
    result = {
        "seed": seed, "eval_examples": len(dev), "eval_split": split, "metric": metric,
        "baseline_score": baseline, "adapler_score": adapler_score, "drop": baseline - adapler_score,
        "drop_ci95": drop_interval(run.task, dev.labels, plain_logits, outputs["logits"]),
        "flops_speedup": flops["speedup"], "measured_speedup_batch1": batch1["measured_speedup"],
        "measured_speedup_batched": batched["measured_speedup"], "layer_bound_speedup_batch1": batch1["layer_bound_speedup"],
        "batch1": batch1, "batched": batched, "sweep": sweep,
        "eta": adapler.bert.encoder.ETA.numpy().tolist(), "theta": adapler.bert.encoder.THETA.numpy().tolist(),
        "settings": settings, "machine": machine(), "date": today(),
    }
    write_json(cached, result)
    return result


def aggregate(per_seed):
    """Mean of every headline number over seeds, with its `[min, max]` in `range`."""
    combined = {key: float(np.mean([r[key] for r in per_seed])) for key in HEADLINE_KEYS}
    combined["range"] = {key: [float(min(r[key] for r in per_seed)), float(max(r[key] for r in per_seed))]
                         for key in HEADLINE_KEYS}
    return combined


def main(argv):
    del argv
    if not FLAGS.RECIPE:
        raise DataError(f"--RECIPE is required; the recipes are {', '.join(sorted(recipes.RECIPES))}.")
    run = Run(with_changes(recipes.get_recipe(FLAGS.RECIPE), FLAGS.SET))
    seeds = [int(seed) for seed in FLAGS.SEEDS]
    try:
        per_seed = [measure_seed(run, seed) for seed in seeds]
    except SettingsChangedError as error:
        raise DataError(str(error)) from None
    first = per_seed[0]
    train_count = (run.adapler["TRAIN_EXAMPLES"]
                   or len(load_split(run.task, "train", FLAGS.DATA_DIR or None, seed=seeds[0])))
    result = {
        "task": run.task.name, "backbone": run.backbone, "max_length": run.max_length,
        "train_examples": train_count, "eval_examples": first["eval_examples"], "eval_split": first["eval_split"],
        "metric": first["metric"], **aggregate(per_seed), "seeds": seeds, "per_seed": per_seed,
        # The single-seed fields of the table and plot: the first seed's.
        "batch1": first["batch1"], "batched": first["batched"], "sweep": first["sweep"],
        "windows": "first MAX_LENGTH-2 word-pieces of each example", "recipe": FLAGS.RECIPE, "changes": FLAGS.SET,
        "settings": run.settings("finetune", "adapler", "measure"),
        "command": command_line(sys.argv), "machine": machine(),
        # A rerun that only reads earlier measurements measured nothing today.
        "date": max(r["date"] for r in per_seed),
    }
    write_json(run.results_path(), result)
    plot_tradeoff(result, f"{os.path.splitext(run.results_path())[0]}_tradeoff.png")
    update_speed_table(FLAGS.RESULTS_DIR, result)
    for seed_result in per_seed:
        interval = seed_result.get("drop_ci95")
        print(f"seed {seed_result['seed']}: " + ", ".join(f"{key}={seed_result[key]:.4f}" for key in HEADLINE_KEYS)
              + (f", drop 95% interval [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""))
    print("mean: " + ", ".join(f"{key}={result[key]:.4f} [{result['range'][key][0]:.4f}, "
                               f"{result['range'][key][1]:.4f}]" for key in HEADLINE_KEYS), flush=True)


if __name__ == "__main__":
    cli.run(main, section="measure")
