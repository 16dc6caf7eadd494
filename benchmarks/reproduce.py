"""One reproduction run: all stages, then scores, FLOPs and wall-clock speedups and a trade-off curve.

    python benchmarks/reproduce.py --TASK=sst2 --MAX_LENGTH=64 --TRAIN_EXAMPLES=8000
    python benchmarks/reproduce.py --TASK=movie_rationales --MAX_LENGTH=256 --BATCH_SIZE=16
    python benchmarks/reproduce.py --TASK=sst2 --QUICK --RESULTS_DIR=/tmp/r   # tiny slice (CI)

Stages whose artefacts exist are skipped (`--RESUME`, default on), so an interrupted run picks up
where it stopped; the flags each artefact was made with are recorded beside it (`logs/reproduce_*.json`),
and artefacts made with other training flags are refused rather than silently reused. A seed that the
existing results JSON already holds, measured with the same flags, is taken from there: work
directories need not survive between sessions, and the same command with every seed runs only the
seeds the results lack. Writes `<RESULTS_DIR>/<task>_<backbone>_<max_length>.json`, a trade-off plot
`..._tradeoff.png`, adds the run to `speed.json` and rewrites the `README.md` table.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datetime  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402

import numpy as np  # noqa: E402

import pipeline  # noqa: E402,F401
from absl import app, flags  # noqa: E402

from benchmarks.report import (HEADLINE_KEYS, changed_settings, command_line, earlier_result, machine,  # noqa: E402
                               plot_tradeoff, same_settings, update_speed_table)  # noqa: E402
from benchmarks.significance import drop_interval  # noqa: E402
from benchmarks.wallclock import compare, eta_sweep, layer_time_curve  # noqa: E402
from models.backbones import backbone_label, load_tokenizer, resolve_backbone  # noqa: E402
from models.modeling_tf_bert import TFBertForSequenceClassification  # noqa: E402
from pipeline.atomic import write_json  # noqa: E402
from pipeline.data import encode  # noqa: E402
from pipeline.evaluation import flops_report, predict, score  # noqa: E402
from pipeline.paths import REPO, TaskDir  # noqa: E402
from pipeline.stage import ranked_epochs, read_ft_logs  # noqa: E402
from tasks.registry import get_task, load_split  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("TASK", "sst2", "Task.")
flags.DEFINE_string("BASE_MODEL", "all-MiniLM-L6-v2", "Backbone.")
flags.DEFINE_integer("MAX_LENGTH", 64, "Max tokens per example (first window of long texts).")
flags.DEFINE_integer("BATCH_SIZE", 32, "Training and batched-inference batch size.")
flags.DEFINE_integer("LR_BATCH_SIZE", 0, "The AdapLeR stage's batch size (0 = --BATCH_SIZE): smaller batches give "
                     "the new CP heads and thresholds more updates in the same time.", lower_bound=0)
flags.DEFINE_integer("TRAIN_EXAMPLES", 0, "First N training examples (0 = all).")
flags.DEFINE_integer("EVAL_EXAMPLES", 0, "First N dev examples (0 = all).")
flags.DEFINE_integer("FT_EPOCHS", 3, "Fine-tuning epochs.")
flags.DEFINE_float("FT_LEARNING_RATE", 5e-5, "Fine-tuning learning rate.")
flags.DEFINE_integer("LR_EPOCHS", 5, "AdapLeR epochs.")
flags.DEFINE_list("LAMBDAS", [], "Stage 3's --LAMBDAS (one soft-removal sharpness per AdapLeR epoch; empty = the "
                  "schedule).")
flags.DEFINE_integer("MIN_TRAIN_LENGTH", 0, "Stage 3's --MIN_TRAIN_LENGTH (AdapLeR trains on examples of at least "
                     "this many tokens; 0 = all).", lower_bound=0)
flags.DEFINE_bool("GROUP_BY_LENGTH", False, "Both training stages batch examples of similar length together.")
flags.DEFINE_float("DISTILL_WEIGHT", 0.0, "Stage 3's --DISTILL_WEIGHT (weight of distillation from the fine-tuned "
                   "model in the task loss; 0 = cross-entropy only, as the original).", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("DISTILL_TEMPERATURE", 2.0, "Stage 3's --DISTILL_TEMPERATURE.", lower_bound=1e-3)
flags.DEFINE_float("GAMMA", 1.0, "KL weight.")
flags.DEFINE_float("PHI", 10.0, "Length-loss weight.")
flags.DEFINE_float("CP_LEARNING_RATE", 1e-3, "Learning rate of the Contribution Predictors.")
flags.DEFINE_float("SPEEDUP_LEARNING_RATE", 2e-3, "Learning rate of ETA/THETA.")
flags.DEFINE_integer("TIMING_EXAMPLES", 200, "Dev examples timed at batch size 1.")
flags.DEFINE_integer("TIMING_BATCH_SIZE", 32, "Batch size of the batched timing and of the sweep.")
flags.DEFINE_integer("SWEEP_TIMING_EXAMPLES", 128, "Dev examples timed (batched) per sweep point.")
flags.DEFINE_list("SCALES", "0,0.5,0.75,1,1.5,2,3",
                 "ETA scales of the trade-off sweep (0: nothing removed, which measures the CP overhead).")
flags.DEFINE_integer("REPEATS", 3, "Timed calls per batch and model (median kept).")
flags.DEFINE_string("DATA_DIR", os.environ.get("ADAPLER_DATA_DIR", ""), "Local data (empty = tensorflow-datasets).")
flags.DEFINE_string("WORK_DIR", os.path.join(REPO, "benchmarks", "work"), "Root of the benchmark's task directories.")
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")
flags.DEFINE_bool("RESUME", True, "Skip stages whose artefacts already exist, and seeds measured before.")
flags.DEFINE_list("SEEDS", ["42"], "Data seeds: one full run each (task directory <WORK_DIR>/<backbone>/<seed>/); "
                  "the results give every seed and the mean with min-max.")
flags.DEFINE_list("ETA_SCALES", ["1"], "Stage 3's --ETA_SCALES (ETA multipliers the keep rule chooses among on dev).")
flags.DEFINE_list("LATE_ETA_FACTORS", ["1"], "Stage 3's --LATE_ETA_FACTORS (extra ETA multipliers of the later "
                  "half of the layers, tried with every --ETA_SCALES value).")
flags.DEFINE_bool("QUICK", False, "Tiny slice for CI: few examples, 1 epoch, short sequences.")

SAVE_NAME = "bench"
# The flags each artefact depends on: a resumed run reuses an artefact only when they are unchanged.
FINETUNE_FLAGS = ("TASK", "BASE_MODEL", "MAX_LENGTH", "BATCH_SIZE", "TRAIN_EXAMPLES", "FT_EPOCHS", "FT_LEARNING_RATE",
                  "GROUP_BY_LENGTH")
ADAPLER_FLAGS = ("LR_BATCH_SIZE", "LR_EPOCHS", "LAMBDAS", "MIN_TRAIN_LENGTH", "DISTILL_WEIGHT", "DISTILL_TEMPERATURE",
                 "GAMMA", "PHI", "CP_LEARNING_RATE", "SPEEDUP_LEARNING_RATE", "ETA_SCALES", "LATE_ETA_FACTORS")
MEASURE_FLAGS = ("EVAL_EXAMPLES", "TIMING_EXAMPLES", "TIMING_BATCH_SIZE", "SWEEP_TIMING_EXAMPLES", "SCALES", "REPEATS")
RUN_FLAGS = FINETUNE_FLAGS + ADAPLER_FLAGS + MEASURE_FLAGS


class SettingsChanged(Exception):
    """A task directory holds artefacts trained with other flags than this run's."""


def _settings(names):
    return {name: getattr(FLAGS, name) for name in names}


def claim(record, names, artefact_exists):
    """Checks that existing artefacts were made with this run's flags, then records them.

    Args:
        record: JSON file holding the flags the artefacts were made with.
        names: Flag names the artefacts depend on.
        artefact_exists: Whether any of the artefacts is already there.

    Returns:
        True when the existing artefacts may be reused (`--RESUME` and the same flags).

    Raises:
        SettingsChanged: `--RESUME` and the artefacts came from other flags, or from a run that left
            no record of its flags.
    """
    current = _settings(names)
    if FLAGS.RESUME and artefact_exists:
        if not os.path.isfile(record):
            raise SettingsChanged(f"{os.path.dirname(os.path.dirname(record))} holds artefacts without a record of "
                                  "the flags they were made with; pass --RESUME=false to redo them, or another "
                                  "--WORK_DIR.")
        with open(record) as handle:
            saved = json.load(handle)
        changed = changed_settings(saved, current, {name: FLAGS[name].default for name in current})
        if changed:
            raise SettingsChanged(f"{record} was made with other flags ({'; '.join(changed)}); pass --RESUME=false "
                                  "to redo it, or another --WORK_DIR.")
    write_json(record, current)
    return FLAGS.RESUME and artefact_exists


def _apply_quick():
    if FLAGS.QUICK:
        for name, value in dict(TRAIN_EXAMPLES=64, EVAL_EXAMPLES=32, MAX_LENGTH=32, FT_EPOCHS=1, LR_EPOCHS=1,
                                TIMING_EXAMPLES=4, SWEEP_TIMING_EXAMPLES=8, REPEATS=1, SCALES=["1", "2"]).items():
            setattr(FLAGS, name, value)


def _stage(seed, script, *extra):
    common = [f"--TASK={FLAGS.TASK}", f"--BASE_MODEL={FLAGS.BASE_MODEL}", f"--MAX_LENGTH={FLAGS.MAX_LENGTH}",
              f"--BATCH_SIZE={FLAGS.BATCH_SIZE}", f"--DATA_DIR={FLAGS.DATA_DIR}", f"--DATA_SEED={seed}",
              f"--TRAIN_EXAMPLES={FLAGS.TRAIN_EXAMPLES}", f"--EVAL_EXAMPLES={FLAGS.EVAL_EXAMPLES}"]
    env = dict(os.environ, ADAPLER_DIRECTORY=FLAGS.WORK_DIR, TF_USE_LEGACY_KERAS="1")
    print(f"== seed {seed}: {script} {' '.join(extra)}", flush=True)
    subprocess.run([sys.executable, os.path.join(REPO, script), *common, *extra], check=True, env=env)


def run_stages(dirs, name):
    seed = dirs.seed
    finetuned = claim(dirs.log("reproduce_finetune.json"), FINETUNE_FLAGS, os.path.isfile(dirs.ft_logs))
    if not (finetuned and len(read_ft_logs(dirs.ft_logs)) == FLAGS.FT_EPOCHS):
        _stage(seed, "run_files/run_classification_bert.py", f"--EPOCHS={FLAGS.FT_EPOCHS}",
               f"--LEARNING_RATE={FLAGS.FT_LEARNING_RATE}", f"--GROUP_BY_LENGTH={FLAGS.GROUP_BY_LENGTH}")
        finetuned = False
    task = get_task(FLAGS.TASK)
    epochs = [e for e, _ in ranked_epochs(task, dirs.ft_logs)[:3]]
    if not (finetuned and all(os.path.isfile(dirs.saliency("train", e)) for e in epochs)):
        _stage(seed, "tools/store_saliencies.py", "--SPLIT=train")
        finetuned = False
    trained = claim(dirs.log(f"reproduce_{name}.json"), FINETUNE_FLAGS + ADAPLER_FLAGS,
                    os.path.isfile(dirs.adapler_model(name)))
    if not (finetuned and trained):
        _stage(seed, "run_files/run_classification_w_lr.py", f"--EPOCHS={FLAGS.LR_EPOCHS}", "--INITIAL_MODEL_PATH=",
               f"--GAMMA={FLAGS.GAMMA}", f"--PHI={FLAGS.PHI}", f"--SAVE_NAME={SAVE_NAME}",
               f"--CP_LEARNING_RATE={FLAGS.CP_LEARNING_RATE}", f"--SPEEDUP_LEARNING_RATE={FLAGS.SPEEDUP_LEARNING_RATE}",
               f"--ETA_SCALES={','.join(FLAGS.ETA_SCALES)}", f"--LATE_ETA_FACTORS={','.join(FLAGS.LATE_ETA_FACTORS)}",
               f"--LAMBDAS={','.join(FLAGS.LAMBDAS)}",
               f"--MIN_TRAIN_LENGTH={FLAGS.MIN_TRAIN_LENGTH}", f"--GROUP_BY_LENGTH={FLAGS.GROUP_BY_LENGTH}",
               f"--DISTILL_WEIGHT={FLAGS.DISTILL_WEIGHT}", f"--DISTILL_TEMPERATURE={FLAGS.DISTILL_TEMPERATURE}",
               f"--BATCH_SIZE={FLAGS.LR_BATCH_SIZE or FLAGS.BATCH_SIZE}")


def dev_split(task, seed):
    """`(split name, encoded examples)` of the dev split the benchmark scores."""
    split = task.dev_splits[0]
    examples = load_split(task, split, FLAGS.DATA_DIR or None, seed=seed)
    if FLAGS.EVAL_EXAMPLES:
        examples = examples[: FLAGS.EVAL_EXAMPLES]
    return split, encode(examples, load_tokenizer(FLAGS.BASE_MODEL), FLAGS.MAX_LENGTH)


def load_models(task, dirs, name):
    """`(plain, adapler)`: the best fine-tuned epoch and the AdapLeR checkpoint of a task directory."""
    path = resolve_backbone(FLAGS.BASE_MODEL)
    plain = TFBertForSequenceClassification.from_pretrained(path, num_labels=task.num_labels)
    plain.load_weights(dirs.finetuned_model(ranked_epochs(task, dirs.ft_logs)[0][0]))
    adapler = TFBertForSequenceClassification.from_pretrained(path, num_labels=task.num_labels).to_AdapLeR()
    adapler.load_weights(dirs.adapler_model(name))
    return plain, adapler


def scored(task, dev, plain, adapler):
    """Both models on the dev examples: `(plain logits, AdapLeR's outputs, fine-tuned score, AdapLeR's score)`."""
    metric = task.metrics[0]
    plain_logits = predict(plain, dev, FLAGS.BATCH_SIZE)["logits"]
    outputs = predict(adapler, dev, FLAGS.BATCH_SIZE, lr_mode=True)
    return (plain_logits, outputs, score(task, dev.labels, plain_logits)[metric],
            score(task, dev.labels, outputs["logits"])[metric])


def with_drop_interval(task, dirs, name, measured, cached):
    """`measured` with its `drop_ci95`, computed for a result from before the field when its checkpoints are here.

    The scores are computed again first: a checkpoint that no longer gives the recorded scores is not the
    one measured, and the result is left as it was.
    """
    if "drop_ci95" in measured or not os.path.isfile(dirs.adapler_model(name)):
        return measured
    _, dev = dev_split(task, measured["seed"])
    plain_logits, outputs, *rescored = scored(task, dev, *load_models(task, dirs, name))
    if not np.allclose(rescored, (measured["baseline_score"], measured["adapler_score"]), rtol=0, atol=1e-6):
        print(f"== seed {measured['seed']}: the checkpoints now score {rescored[0]:.4f} and {rescored[1]:.4f}, not "
              f"the recorded {measured['baseline_score']:.4f} and {measured['adapler_score']:.4f}; no interval added",
              flush=True)
        return measured
    measured = dict(measured, drop_ci95=drop_interval(task, dev.labels, plain_logits, outputs["logits"]))
    write_json(cached, measured)
    return measured


def measure_seed(task, seed):
    """Stages (resumed where they stopped) and measurements of one data seed; cached in its task directory."""
    dirs = TaskDir(backbone_label(FLAGS.BASE_MODEL), FLAGS.TASK, seed, root=FLAGS.WORK_DIR)
    name = dirs.adapler_name(SAVE_NAME, FLAGS.GAMMA, FLAGS.PHI)
    cached = dirs.log(f"reproduce_{name}_{FLAGS.MAX_LENGTH}.json")
    settings = _settings(RUN_FLAGS)
    defaults = {flag: FLAGS[flag].default for flag in RUN_FLAGS}
    if FLAGS.RESUME and os.path.isfile(cached):
        with open(cached) as handle:
            measured = json.load(handle)
        if same_settings(measured.get("settings", {}), settings, defaults):
            print(f"== seed {seed}: measured before, {cached}", flush=True)
            return with_drop_interval(task, dirs, name, measured, cached)
    measured = FLAGS.RESUME and earlier_result(results_path(), seed, settings, defaults)
    if measured:
        print(f"== seed {seed}: measured before, in {results_path()}", flush=True)
        return with_drop_interval(task, dirs, name, measured, cached)
    run_stages(dirs, name)

    split, dev = dev_split(task, seed)
    plain, adapler = load_models(task, dirs, name)
    metric = task.metrics[0]
    plain_logits, outputs, baseline, adapler_score = scored(task, dev, plain, adapler)
    flops = flops_report(adapler.config, task.num_labels, dev.lengths, outputs["lengths"])
    batch1 = compare(plain, adapler, dev, 1, FLAGS.REPEATS, limit=FLAGS.TIMING_EXAMPLES,
                     curve=layer_time_curve(plain, 1, FLAGS.MAX_LENGTH))
    batched = compare(plain, adapler, dev, FLAGS.TIMING_BATCH_SIZE, FLAGS.REPEATS,
                      curve=layer_time_curve(plain, FLAGS.TIMING_BATCH_SIZE, FLAGS.MAX_LENGTH, repeats=3))
    sweep = eta_sweep(adapler, dev, FLAGS.TIMING_BATCH_SIZE, [float(s) for s in FLAGS.SCALES],
                      lambda logits: score(task, dev.labels, logits)[metric],
                      timing=(plain, FLAGS.SWEEP_TIMING_EXAMPLES))
    result = {
        "seed": seed, "eval_examples": len(dev), "eval_split": split, "metric": metric,
        "baseline_score": baseline, "adapler_score": adapler_score, "drop": baseline - adapler_score,
        "drop_ci95": drop_interval(task, dev.labels, plain_logits, outputs["logits"]),
        "flops_speedup": flops["speedup"], "measured_speedup_batch1": batch1["measured_speedup"],
        "measured_speedup_batched": batched["measured_speedup"], "layer_bound_speedup_batch1": batch1["layer_bound_speedup"],
        "batch1": batch1, "batched": batched, "sweep": sweep,
        "eta": adapler.bert.encoder.ETA.numpy().tolist(), "theta": adapler.bert.encoder.THETA.numpy().tolist(),
        "settings": settings, "machine": machine(), "date": datetime.date.today().isoformat(),
    }
    write_json(cached, result)
    return result


def results_path():
    """`<RESULTS_DIR>/<task>_<backbone>_<max_length>.json`: this benchmark's results, every seed's in `per_seed`."""
    return os.path.join(FLAGS.RESULTS_DIR, f"{FLAGS.TASK}_{backbone_label(FLAGS.BASE_MODEL)}_{FLAGS.MAX_LENGTH}.json")


def aggregate(per_seed):
    """Mean of every headline number over seeds, with its `[min, max]` in `range`."""
    combined = {key: float(np.mean([r[key] for r in per_seed])) for key in HEADLINE_KEYS}
    combined["range"] = {key: [float(min(r[key] for r in per_seed)), float(max(r[key] for r in per_seed))]
                         for key in HEADLINE_KEYS}
    return combined


def main(argv):
    del argv
    _apply_quick()
    task = get_task(FLAGS.TASK)
    seeds = [int(seed) for seed in FLAGS.SEEDS]
    try:
        per_seed = [measure_seed(task, seed) for seed in seeds]
    except SettingsChanged as error:
        raise app.UsageError(str(error)) from None
    first = per_seed[0]
    train_count = FLAGS.TRAIN_EXAMPLES or len(load_split(task, "train", FLAGS.DATA_DIR or None, seed=seeds[0]))
    run = {
        "task": FLAGS.TASK, "backbone": FLAGS.BASE_MODEL, "max_length": FLAGS.MAX_LENGTH,
        "train_examples": train_count, "eval_examples": first["eval_examples"], "eval_split": first["eval_split"],
        "metric": first["metric"], **aggregate(per_seed), "seeds": seeds, "per_seed": per_seed,
        # The single-seed fields of the table and plot: the first seed's.
        "batch1": first["batch1"], "batched": first["batched"], "sweep": first["sweep"],
        "windows": "first MAX_LENGTH-2 word-pieces of each example",
        "settings": _settings(RUN_FLAGS + ("QUICK",)),
        "command": command_line(sys.argv), "machine": machine(),
        # A rerun that only reads earlier measurements measured nothing today.
        "date": max(result["date"] for result in per_seed),
    }
    os.makedirs(FLAGS.RESULTS_DIR, exist_ok=True)
    write_json(results_path(), run)
    plot_tradeoff(run, f"{os.path.splitext(results_path())[0]}_tradeoff.png")
    update_speed_table(FLAGS.RESULTS_DIR, run)
    for result in per_seed:
        interval = result.get("drop_ci95")
        print(f"seed {result['seed']}: " + ", ".join(f"{key}={result[key]:.4f}" for key in HEADLINE_KEYS)
              + (f", drop 95% interval [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""))
    print("mean: " + ", ".join(f"{key}={run[key]:.4f} [{run['range'][key][0]:.4f}, {run['range'][key][1]:.4f}]"
                               for key in HEADLINE_KEYS), flush=True)


if __name__ == "__main__":
    app.run(main)
