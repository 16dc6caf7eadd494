"""Per-layer agreement of four token-importance methods with human rationales (docs/method.md, section 5)."""


from analysis.attention_maps import cls_attention_maps
from analysis.rationale_metrics import layer_agreement
from models.saliency import saliency_step
from pipeline.atomic import atomic_path, write_text
from pipeline.data import Encoded, batches, num_batches

import numpy as np
import tensorflow as tf
from tqdm import tqdm

METHODS = ("cp", "attention", "rollout", "saliency")


def _normalised(scores, length):
    scores = np.asarray(scores[:length], np.float64)
    return scores / scores.sum()


METRICS = {
    "ap": "Average Precision (higher: the scores rank rationale tokens first)",
    "fpr": "False Positive Rate at the method's own threshold (score >= 1/n; lower: fewer non-rationale tokens kept)",
    "recall": "Recall of rationale tokens at the method's own threshold",
    "kept_rate": "Share of tokens kept at the method's own threshold",
    "fpr_matched": "False Positive Rate at the CP's budget (each method keeps as many tokens per window as the CP)",
    "recall_matched": "Recall of rationale tokens at the CP's budget",
}


def evaluate(windows, adapler, plain, batch_size):
    """Per-layer agreement with the rationales for the CPs, raw attention, rollout and saliency.

    At each layer and window the CP's own-threshold count of kept tokens is the budget of the
    matched metrics: every method then keeps its that-many highest-scoring tokens (ties broken by
    position), so FPR and recall compare selections of the same size.

    Args:
        windows: `RationaleWindow`s.
        adapler: The AdapLeR model (hard removal: a token removed earlier scores 0).
        plain: The fine-tuned model (attention, rollout, saliency).
        batch_size: Windows per batch.

    Returns:
        `{method: {metric: [mean per layer]}}` for the metrics of `METRICS`.
    """
    layers = adapler.config.num_hidden_layers
    encoded = Encoded([w.input_ids for w in windows], [np.zeros_like(w.input_ids) for w in windows],
                      np.array([w.label for w in windows]), max(len(w.input_ids) for w in windows))
    found = {m: [[] for _ in range(layers)] for m in METHODS}
    for inputs, labels, indices in tqdm(batches(encoded, batch_size), total=num_batches(encoded, batch_size),
                                        desc="windows"):
        cp = adapler(inputs, lr_mode=True, output_explanations=True)
        attention, rollout = (m.numpy() for m in cls_attention_maps(plain, inputs))
        saliency = saliency_step(plain, inputs, tf.constant(labels)).numpy()
        for row, index in enumerate(indices):
            length = len(windows[index].input_ids)
            rationale = windows[index].rationale
            live = [length] + [float(n[row]) for n in cp.lengths[:-1]]
            for layer in range(layers):
                own = layer_agreement(cp.explanations[layer][row, :length].numpy(), rationale, live[layer])
                budget = own["kept"]
                scores = {"cp": cp.explanations[layer][row, :length].numpy(),
                          "attention": _normalised(attention[row, layer], length),
                          "rollout": _normalised(rollout[row, layer], length),
                          "saliency": _normalised(saliency[row], length)}
                for method, values in scores.items():
                    threshold_length = live[layer] if method == "cp" else length
                    found[method][layer].append(layer_agreement(values, rationale, threshold_length, budget))
    return {
        method: {metric: [float(np.nanmean([v[metric] for v in values])) for values in per_layer]
                 for metric in METRICS}
        for method, per_layer in found.items()
    }


def _title(result):
    return {"movie_rationales": "ERASER movies", "hatexplain": "HateXplain"}.get(result.get("task"), "ERASER movies")


def plot(result, path):
    """Every metric by layer for every method (PNG, one panel a metric)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if m in next(iter(result["methods"].values()))]
    columns = 3
    rows = -(-len(metrics) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(13, 3.6 * rows), squeeze=False)
    for axis, metric in zip(axes.flat, metrics):
        for method, values in result["methods"].items():
            axis.plot(np.arange(1, len(values[metric]) + 1), values[metric], "o-", label=method)
        axis.set_title(METRICS[metric].split(" (")[0], fontsize=9)
        axis.set_xlabel("layer")
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(metrics):]:
        axis.axis("off")
    axes.flat[0].legend()
    figure.suptitle(f"Human rationales, {_title(result)} {result['split']} ({result['examples']} windows)")
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)


def write_table(result, path, command):
    """Every metric per layer and method as a markdown table."""
    methods = result["methods"]
    layers = len(next(iter(methods.values()))["ap"])
    header = "| method | " + " | ".join(f"layer {i + 1}" for i in range(layers)) + " |"
    rule = "|---|" + "---|" * layers
    lines = [f"# Human rationales, {_title(result)} {result['split']}", "",
             f"{result['examples']} windows of {result['documents']} documents, max length {result['max_length']}. "
             f"Command: `{command}`.", ""]
    for key, title in METRICS.items():
        if key not in next(iter(methods.values())):
            continue
        lines += [f"## {title}", "", header, rule]
        lines += [f"| {m} | " + " | ".join(f"{v:.3f}" for v in values[key]) + " |" for m, values in methods.items()]
        lines.append("")
    write_text(path, "\n".join(lines))
