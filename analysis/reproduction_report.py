"""`benchmarks/reproduce.py`'s report: speed.json, the results README table and the trade-off plot."""

import json
import os

from analysis.plotting import plt, save_figure, speedup_axis
from pipeline.atomic import write_json, write_text

HEADLINE_KEYS = ("baseline_score", "adapler_score", "drop", "flops_speedup", "measured_speedup_batch1",
                 "measured_speedup_batched", "layer_bound_speedup_batch1")
SPEED_KEYS = ("task", "backbone", "max_length", "train_examples", "eval_examples", *HEADLINE_KEYS, "range", "seeds",
              "per_seed", "command", "machine", "date")


def _format_speedup(value):
    # Runs recorded before the layer-time bound existed have none.
    return "-" if value is None else f"{value:.2f}x"


def _with_range(run, key, form):
    """`mean` formatted, with ` (min-max)` when the run has several seeds."""
    value = form.format(run[key])
    if len(run.get("seeds", [])) > 1:
        low, high = run["range"][key]
        value += f" ({form.format(low)}-{form.format(high)})"
    return value


def _drop_intervals(run):
    """Each seed's 95% interval of the drop, in points, or `-` for runs measured before it was recorded."""
    intervals = [seed_run.get("drop_ci95") for seed_run in run.get("per_seed", [])]
    if not intervals or None in intervals:
        return "-"
    return ", ".join(f"{100 * low:.1f} to {100 * high:.1f}" for low, high in intervals)


def update_speed_table(results_dir, run):
    """Puts `run` into `speed.json` (replacing the same task/backbone/length) and rewrites README.md."""
    path = os.path.join(results_dir, "speed.json")
    runs = json.load(open(path))["runs"] if os.path.isfile(path) else []
    key = (run["task"], run["backbone"], run["max_length"])
    runs = [r for r in runs if (r["task"], r["backbone"], r["max_length"]) != key]
    entry = {k: run[k] for k in SPEED_KEYS if k != "per_seed"}
    entry["per_seed"] = [{k: seed_run[k] for k in ("seed", *HEADLINE_KEYS, "drop_ci95") if k in seed_run}
                         for seed_run in run["per_seed"]]
    runs.append(entry)
    write_json(path, {"runs": runs})
    lines = [
        "# Benchmark results", "",
        "Written by `benchmarks/reproduce.py` (one JSON per run beside this file, with every setting, the",
        "command, the machine and the date). Scores on the dev split; speedups are ratios of totals over the",
        "same examples: FLOPs counted from the config, wall-clock as the summed median of interleaved calls",
        "of the plain fine-tuned model and AdapLeR with hard removal. The layer-time bound is the batch-1",
        "speedup predicted from how one encoder layer's time grows with length on this machine, as if",
        "nothing but the layers cost time: measured close to it means AdapLeR's own machinery is cheap, and",
        "its distance to the FLOPs speedup is what short sequences lose in core utilisation. Runs over several",
        "data seeds show the mean and, in brackets, the range over seeds. The drop's interval, per seed, is",
        "a 95% paired bootstrap over the dev examples (fine-tuned minus AdapLeR, in points): how far the",
        "drop measured on this dev split could move on another sample of the same size.", "",
        "| task | backbone | max len | train | dev | seeds | baseline | AdapLeR | drop 95% interval (points) | "
        "FLOPs speedup | measured b=1 | measured batched | measured/FLOPs (b=1) | layer-time bound b=1 | date |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        def cell(key, form, r=r):
            return _with_range(r, key, form)

        lines.append(
            f"| {r['task']} | {r['backbone']} | {r['max_length']} | {r['train_examples']} | {r['eval_examples']} | "
            f"{', '.join(str(s) for s in r.get('seeds', [42]))} | "
            f"{cell('baseline_score', '{:.4f}')} | {cell('adapler_score', '{:.4f}')} | {_drop_intervals(r)} | "
            f"{cell('flops_speedup', '{:.2f}x')} | {cell('measured_speedup_batch1', '{:.2f}x')} | "
            f"{cell('measured_speedup_batched', '{:.2f}x')} | {r['measured_speedup_batch1'] / r['flops_speedup']:.2f} | "
            f"{_format_speedup(r.get('layer_bound_speedup_batch1'))} | {r['date']} |"
        )
    # Rows may come from different machines, so each command names its own.
    lines += ["", "Commands and machines:", ""] + [f"- `{r['command']}` ({r['machine']})" for r in runs] + [""]
    write_text(os.path.join(results_dir, "README.md"), "\n".join(lines))


def plot_tradeoff(run, path):
    """Dev score against FLOPs speedup and against measured (batched) speedup as ETA is scaled."""
    seeds = run.get("per_seed") or [dict(run, seed=42)]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, key, title in ((axes[0], "flops_speedup", "FLOPs speedup"),
                             (axes[1], "measured_speedup", "measured speedup (batched)")):
        for seed_run in seeds:
            sweep = seed_run["sweep"]
            line, = axis.plot([p[key] for p in sweep], [p["score"] for p in sweep], "o-",
                              label=f"AdapLeR, ETA scaled (seed {seed_run['seed']})")
            axis.axhline(seed_run["baseline_score"], color=line.get_color(), linestyle="--", linewidth=0.8)
            for point in sweep:
                axis.annotate(f"x{point['scale']:g}", (point[key], point["score"]), textcoords="offset points",
                              xytext=(4, 4), fontsize=7, color=line.get_color())
        axis.plot([], [], color="gray", linestyle="--", label="fine-tuned baseline (per seed)")
        axis.axvline(1.0, color="lightgray", linewidth=0.8)
        speedup_axis(axis, title)
    axes[0].set_ylabel(f"dev {run['metric']}")
    axes[0].legend(loc="lower left")
    figure.suptitle(f"{run['task']}, {run['backbone']}, max length {run['max_length']}")
    save_figure(figure, path)
