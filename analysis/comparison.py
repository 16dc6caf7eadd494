"""Reading the comparison (`benchmarks/compare_methods.py`): scores at matched speedups, their intervals,
the table and the plot."""

from analysis.plotting import plt, save_figure, speedup_axis
from analysis.significance import paired_bootstrap_interval

import numpy as np

# A measured point stands for a matched speedup when it is within this factor of it.
NEAR = 1.25
SAME_FINETUNED = {True: "yes", False: "no", None: "not recorded"}
LABELS = {"adapler": "AdapLeR", "layer_drop": "static depth (fewer layers)", "truncation": "static length",
          "power_bert": "PoWER-BERT", "ltp": "LTP", "tr_bert": "TR-BERT"}


def score_at(points, speedup):
    """The score of a curve at `speedup`, interpolated linearly in log speedup; None outside the curve."""
    ordered = sorted(points, key=lambda p: p["flops_speedup"])
    x = np.log([p["flops_speedup"] for p in ordered])
    if not x[0] - 1e-9 <= np.log(speedup) <= x[-1] + 1e-9:
        return None
    return float(np.interp(np.log(speedup), x, [p["score"] for p in ordered]))


def nearest(points, speedup):
    """The measured point nearest `speedup` (in log speedup), if within `NEAR` of it."""
    best = min(points, key=lambda p: abs(np.log(p["flops_speedup"] / speedup)))
    return best if abs(np.log(best["flops_speedup"] / speedup)) <= np.log(NEAR) else None


def accuracy_difference(first, second):
    """Accuracy of `first` minus `second` and its 95% paired bootstrap interval, from their per-example correctness."""
    one = np.array([c == "1" for c in first["correct"]], float)
    two = np.array([c == "1" for c in second["correct"]], float)
    interval = paired_bootstrap_interval(lambda labels, correct: float(np.mean(correct)), np.ones(len(one)), one, two)
    return float(one.mean() - two.mean()), list(interval)


def same_finetuned(first, second):
    """Whether two points started from the same fine-tuned checkpoint (`finetuned_model`); None if either is older
    than the field. Two sessions on different processors retrain a seed's model to different weights."""
    models = first.get("finetuned_model"), second.get("finetuned_model")
    return None if None in models else models[0] == models[1]


def matched_rows(result, speedups):
    """Per speedup and method: the interpolated score over seeds and, per seed, AdapLeR minus the method.

    Args:
        result: The comparison's results (`methods.<name>.per_seed[*].points`).
        speedups: FLOPs speedups to read every curve at.

    Returns:
        List of dicts: `speedup`, `method`, `score_mean`, `score_range`, `seeds` (those whose curve reaches
        the speedup) and `vs_adapler`: per seed the nearest measured points of both, the difference in
        points with its 95% interval, and whether both started from one fine-tuned checkpoint (`same_finetuned`);
        omitted where either has no point within `NEAR`.
    """
    rows = []
    adapler = {run["seed"]: run["points"] for run in result["methods"].get("adapler", {}).get("per_seed", [])}
    for speedup in speedups:
        for method, entry in result["methods"].items():
            scores = {run["seed"]: score_at(run["points"], speedup) for run in entry["per_seed"]}
            reached = {seed: value for seed, value in scores.items() if value is not None}
            row = {"speedup": speedup, "method": method, "seeds": sorted(reached),
                   "score_mean": float(np.mean(list(reached.values()))) if reached else None,
                   "score_range": [min(reached.values()), max(reached.values())] if reached else None,
                   "vs_adapler": []}
            for run in entry["per_seed"]:
                if method == "adapler" or run["seed"] not in adapler:
                    continue
                mine, theirs = nearest(adapler[run["seed"]], speedup), nearest(run["points"], speedup)
                if mine is None or theirs is None:
                    continue
                difference, interval = accuracy_difference(mine, theirs)
                row["vs_adapler"].append({
                    "seed": run["seed"], "adapler": {"flops_speedup": mine["flops_speedup"], "score": mine["score"]},
                    "method": {"flops_speedup": theirs["flops_speedup"], "score": theirs["score"]},
                    "difference": difference, "ci95": interval,
                    "same_finetuned": same_finetuned(mine, theirs)})
            rows.append(row)
    return rows


def _cell(row):
    if row["score_mean"] is None:
        return "-"
    low, high = row["score_range"]
    seeds = "" if len(row["seeds"]) > 1 else f" (seed {row['seeds'][0]})"
    return f"{row['score_mean']:.4f} [{low:.4f}-{high:.4f}]{seeds}" if len(row["seeds"]) > 1 else (
        f"{row['score_mean']:.4f}{seeds}")


def measured_seeds(result):
    """The seeds with at least one point of some method."""
    return sorted({run["seed"] for entry in result["methods"].values() for run in entry["per_seed"] if run["points"]})


def comparison_table(result):
    """The comparison as markdown: matched speedups, AdapLeR minus each method, and every method's points."""
    metric, methods = result["metric"], list(result["methods"])
    finetuned = [entry["score"] for entry in result.get("finetuned", [])]
    lines = [f"# AdapLeR and the other methods: {result['task']} at {result['max_length']} tokens", "",
             f"Recipe `{result['recipe']}`, seeds measured {', '.join(map(str, measured_seeds(result)))} of "
             f"{', '.join(map(str, result['seeds']))}; fine-tuned dev {metric} "
             f"{np.mean(finetuned):.4f} (mean over seeds). {result['machine']}, {result['date']}.",
             f"Command: `{result['command']}`.", "",
             f"## Dev {metric} at matched FLOPs speedups (interpolated on each curve; mean [range] over seeds)", "",
             "| speedup | " + " | ".join(LABELS.get(m, m) for m in methods) + " |", "|---|" + "---|" * len(methods)]
    for speedup in sorted({row["speedup"] for row in result["matched"]}):
        rows = {row["method"]: row for row in result["matched"] if row["speedup"] == speedup}
        lines.append(f"| {speedup:g}x | " + " | ".join(_cell(rows[m]) for m in methods) + " |")
    lines += ["", "## AdapLeR minus each method near each speedup (points, 95% paired bootstrap interval, per seed)",
              "", "The measured points nearest the speedup, within 1.25x of it.", "",
              "| speedup | method | seed | AdapLeR | method | AdapLeR - method | one fine-tuned model |",
              "|---|---|---|---|---|---|---|"]
    for row in result["matched"]:
        for entry in row["vs_adapler"]:
            mine, theirs = entry["adapler"], entry["method"]
            low, high = entry["ci95"]
            lines.append(f"| {row['speedup']:g}x | {LABELS.get(row['method'], row['method'])} | {entry['seed']} | "
                         f"{mine['score']:.4f} at {mine['flops_speedup']:.2f}x | {theirs['score']:.4f} at "
                         f"{theirs['flops_speedup']:.2f}x | {100 * entry['difference']:+.1f} ({100 * low:+.1f} to "
                         f"{100 * high:+.1f}) | {SAME_FINETUNED[entry['same_finetuned']]} |")
    lines += ["", "## Every point (FLOPs speedup, wall-clock speedups at batch 1 and batched)", "",
              f"| method | budget | seed | {metric} | FLOPs | b=1 | batched | fine-tuned model |",
              "|---|---|---|---|---|---|---|---|"]
    for method, entry in result["methods"].items():
        for run in entry["per_seed"]:
            for point in run["points"]:
                lines.append(f"| {LABELS.get(method, method)} | {entry['budget_flag']}={point['budget']:g} | "
                             f"{run['seed']} | {point['score']:.4f} | {point['flops_speedup']:.2f}x | "
                             f"{point['wallclock_b1']:.2f}x | {point['wallclock_b32']:.2f}x | "
                             f"{point.get('finetuned_model', '-')} |")
    return "\n".join(lines) + "\n"


def _mean_curve(runs, key):
    """Mean and range over seeds of score against `key`, on a log grid where every seed's curve is defined."""
    low = max(min(p[key] for p in run["points"]) for run in runs)
    high = min(max(p[key] for p in run["points"]) for run in runs)
    if high <= low:
        return None
    grid = np.exp(np.linspace(np.log(low), np.log(high), 40))
    values = []
    for run in runs:
        ordered = sorted(run["points"], key=lambda p: p[key])
        values.append(np.interp(np.log(grid), np.log([p[key] for p in ordered]), [p["score"] for p in ordered]))
    values = np.array(values)
    return grid, values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def plot_comparison(result, path):
    """Left: dev score against FLOPs speedup, one curve per method (mean over seeds, range shaded). Right: the
    same points against measured wall-clock speedup at batch 1 (solid) and batched (dashed)."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for index, (method, entry) in enumerate(result["methods"].items()):
        color = f"C{index}"
        runs = entry["per_seed"]
        curve = _mean_curve(runs, "flops_speedup")
        label = LABELS.get(method, method)
        for run in runs:
            axes[0].plot([p["flops_speedup"] for p in run["points"]], [p["score"] for p in run["points"]], ".",
                         color=color, alpha=0.5)
        if curve is not None:
            grid, mean, low, high = curve
            axes[0].plot(grid, mean, "-", color=color, label=label)
            axes[0].fill_between(grid, low, high, color=color, alpha=0.15)
        else:
            axes[0].plot([], [], ".", color=color, label=label)
        for key, style in (("wallclock_b1", "o-"), ("wallclock_b32", "s--")):
            points = sorted((p for run in runs for p in run["points"]), key=lambda p: p[key])
            axes[1].plot([p[key] for p in points], [p["score"] for p in points], style, color=color, markersize=3,
                         alpha=0.8, label=f"{label}, {'batch 1' if key == 'wallclock_b1' else 'batched'}")
    finetuned = np.mean([entry["score"] for entry in result.get("finetuned", [])])
    for axis in axes:
        axis.axhline(finetuned, color="gray", linestyle=":", label="fine-tuned (mean over seeds)")
    speedup_axis(axes[0], "FLOPs speedup over the fine-tuned model")
    speedup_axis(axes[1], "measured wall-clock speedup")
    axes[0].set_ylabel(f"dev {result['metric']}")
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].legend(fontsize=6, loc="lower left", ncol=2)
    seeds = ", ".join(map(str, measured_seeds(result)))
    figure.suptitle(f"{result['task']} at {result['max_length']} tokens, seeds {seeds}")
    save_figure(figure, path)
