"""Prints the table that ends `run.sh`: what AdapLeR bought on the dev set.

    python tools/summarize_run.py --TASK=sst2 --DATA_SEED=42

Reads the stage-4 results of the fine-tuned and the AdapLeR checkpoint (scores, FLOPs speedup,
mean tokens entering each layer), scores both again to put a 95% paired bootstrap interval on the
loss (analysis/significance.py), times both models on the dev split with the benchmarks'
interleaved timing (batch 1 and batched), prints a markdown table and writes it with the numbers
to `logs/summary_<name>.json`. Then the trade-off stage 3 chose from: every (epoch, ETA scale) it
scored on dev, as a table and as `logs/tradeoff_<name>.png`.
"""

import json
import os

from analysis.plotting import plt, save_figure
from analysis.significance import drop_interval
from analysis.timing import compare
from pipeline import cli
from pipeline.atomic import write_json
from pipeline.evaluation import late_factor_suffix, predict, score
from pipeline.flags import FLAGS, define_adapler_name_flags, define_common_flags, define_timing_flags
from pipeline.keep_rule import SCORE_TOLERANCE
from pipeline.provenance import machine
from tasks.readers import DataError

define_timing_flags()
define_adapler_name_flags()
define_common_flags()


def _read(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run the evaluation stage first.")
    with open(path) as handle:
        return json.load(handle)


def main(argv):
    del argv
    task = cli.task()
    dirs = cli.task_dir().require()
    split, metric = task.dev_splits[0], task.metrics[0]
    name = cli.adapler_name(dirs)
    plain_result = _read(dirs.log(f"eval_bert_{split}.json"))
    adapler_result = _read(dirs.log(f"eval_{name}_{split}.json"))
    dev = cli.encoded(task, split, cli.tokenizer(), FLAGS.EVAL_EXAMPLES)
    plain, _ = cli.trained_model(task, dirs, lr_model=False)
    adapler, _ = cli.trained_model(task, dirs, lr_model=True)
    before, after = plain_result["scores"][metric], adapler_result["scores"][metric]
    plain_logits = predict(plain, dev, FLAGS.BATCH_SIZE, description="fine-tuned")["logits"]
    adapler_logits = predict(adapler, dev, FLAGS.BATCH_SIZE, lr_mode=True, description="AdapLeR")["logits"]
    rescored = score(task, dev.labels, plain_logits)[metric], score(task, dev.labels, adapler_logits)[metric]
    if abs(rescored[0] - before) > 1e-6 or abs(rescored[1] - after) > 1e-6:
        raise DataError(f"The checkpoints score {rescored[0]:.4f} and {rescored[1]:.4f} on {split}, but the evaluation "
                         f"stage recorded {before:.4f} and {after:.4f}: run run_classification_evaluation.py again "
                         "(with and without --LR_MODEL) on these checkpoints.")
    interval = drop_interval(task, dev.labels, plain_logits, adapler_logits)
    timing = {
        "batch_1": compare(plain, adapler, dev, 1, FLAGS.TIMING_REPEATS, limit=FLAGS.TIMING_EXAMPLES),
        f"batch_{FLAGS.TIMING_BATCH_SIZE}": compare(plain, adapler, dev, FLAGS.TIMING_BATCH_SIZE, FLAGS.TIMING_REPEATS),
    }
    lengths = adapler_result["mean_layer_lengths"]
    rows = [
        (f"fine-tuned dev {metric}", f"{before:.4f}"),
        (f"AdapLeR dev {metric}", f"{after:.4f} ({100 * (after - before):+.2f} points)"),
        ("loss, 95% interval", f"{100 * interval[0]:.1f} to {100 * interval[1]:.1f} points (paired bootstrap over "
                               f"the dev examples: what the loss could be on another sample of this size)"),
        ("FLOPs speedup (dev, total)", f"{adapler_result['speedup']:.2f}x"),
    ]
    for key, result in timing.items():
        rows.append((f"wall-clock speedup, {key.replace('_', ' ')}",
                     f"{result['measured_speedup']:.2f}x ({result['examples']} examples, median of "
                     f"{result['repeats']} interleaved calls)"))
    rows += [
        ("mean tokens entering layers 1..L", f"{adapler_result['mean_input_length']:.1f} in: "
                                             + " ".join(f"{n:.1f}" for n in lengths)),
        ("dev examples", str(adapler_result["count"])),
        ("GLUE file", os.path.relpath(dirs.glue_prediction(name, "test"))),
    ]
    write_json(dirs.log(f"summary_{name}.json"), {
        "task": task.name, "metric": metric, "finetuned_score": before, "adapler_score": after, "drop_ci95": interval,
        "flops_speedup": adapler_result["speedup"], "mean_input_length": adapler_result["mean_input_length"],
        "mean_layer_lengths": lengths, "timing": timing, "machine": machine(),
    })
    width = max(len(r[0]) for r in rows)
    print("\n| " + "what".ljust(width) + " | value |\n|" + "-" * (width + 2) + "|-------|")
    for label, value in rows:
        print(f"| {label.ljust(width)} | {value} |")
    tradeoff_path = dirs.log(f"{name}_tradeoff.json")
    if os.path.isfile(tradeoff_path):
        print_tradeoff(_read(tradeoff_path), dirs.log(f"tradeoff_{name}.png"))


def candidate(record):
    """`(epoch, ETA scale, later-layer factor)` of a trade-off record (factor 1 in files written before it)."""
    return record["epoch"], record["eta_scale"], record.get("late_eta_factor", 1)


def scale_text(record):
    return f"x{record['eta_scale']:g}{late_factor_suffix(candidate(record)[2])}"


def print_tradeoff(tradeoff, plot_path):
    """Prints every (epoch, ETA scale, later-layer factor) stage 3 scored, fastest last, and plots them per
    epoch and factor."""
    metric, base = tradeoff["metric"], tradeoff["finetuned_score"]
    kept = candidate(tradeoff["kept"])
    records = sorted(tradeoff["records"], key=lambda r: r["speedup"])
    print(f"\nThe trade-off stage 3 chose from (dev {metric}; fine-tuned {base:.4f}; kept: within "
          f"{100 * SCORE_TOLERANCE:g} point, fastest):")
    print(f"\n| epoch | ETA scale | FLOPs speedup | {metric} | vs fine-tuned |\n|---|---|---|---|---|")
    for r in records:
        mark = " (kept)" if candidate(r) == kept else ""
        print(f"| {r['epoch']} | {scale_text(r)} | {r['speedup']:.2f}x | {r['score']:.4f}{mark} | "
              f"{100 * (r['score'] - base):+.2f} |")
    figure, axis = plt.subplots(figsize=(6, 4))
    for epoch, factor in sorted({candidate(r)[::2] for r in records}):
        points = [r for r in records if candidate(r)[::2] == (epoch, factor)]
        axis.plot([r["speedup"] for r in points], [r["score"] for r in points], "o-",
                  label=f"epoch {epoch}{late_factor_suffix(factor)}")
    chosen = next(r for r in records if candidate(r) == kept)
    axis.plot([chosen["speedup"]], [chosen["score"]], "k*", markersize=14, label="kept")
    axis.axhline(base, color="gray", linestyle="--", label="fine-tuned")
    axis.axhline(base - SCORE_TOLERANCE, color="gray", linestyle=":",
                 label=f"fine-tuned - {100 * SCORE_TOLERANCE:g} point")
    axis.set_xlabel("FLOPs speedup (dev)")
    axis.set_ylabel(f"dev {metric}")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    save_figure(figure, plot_path)
    print(f"\nplot: {os.path.relpath(plot_path)}")


if __name__ == "__main__":
    cli.run(main)
