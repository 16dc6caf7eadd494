"""Per-layer agreement of four token-importance methods with human rationales (SPEC 6)."""


import numpy as np
import tensorflow as tf
from tqdm import tqdm

from analysis.attention_maps import cls_attention_maps
from analysis.rationale_metrics import layer_agreement
from models.saliency import saliency_step
from pipeline.atomic import atomic_path, write_text
from pipeline.data import Encoded, batches, num_batches

METHODS = ("cp", "attention", "rollout", "saliency")


def _normalised(scores, length):
    scores = np.asarray(scores[:length], np.float64)
    return scores / scores.sum()


def evaluate(windows, adapler, plain, batch_size):
    """Mean AP and FPR per layer for the CPs, raw attention, rollout and saliency.

    Args:
        windows: `RationaleWindow`s.
        adapler: The AdapLeR model (hard removal: a token removed earlier scores 0).
        plain: The fine-tuned model (attention, rollout, saliency).
        batch_size: Windows per batch.

    Returns:
        `{method: {"ap": [per layer], "fpr": [per layer]}}`.
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
                found["cp"][layer].append(layer_agreement(cp.explanations[layer][row, :length].numpy(), rationale,
                                                          live[layer]))
                found["attention"][layer].append(layer_agreement(_normalised(attention[row, layer], length),
                                                                 rationale, length))
                found["rollout"][layer].append(layer_agreement(_normalised(rollout[row, layer], length),
                                                               rationale, length))
                found["saliency"][layer].append(layer_agreement(_normalised(saliency[row], length), rationale, length))
    return {
        method: {
            "ap": [float(np.nanmean([v[0] for v in values])) for values in per_layer],
            "fpr": [float(np.nanmean([v[1] for v in values])) for values in per_layer],
        }
        for method, per_layer in found.items()
    }


def plot(result, path):
    """AP and FPR by layer for every method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method, values in result["methods"].items():
        layers = np.arange(1, len(values["ap"]) + 1)
        axes[0].plot(layers, values["ap"], "o-", label=method)
        axes[1].plot(layers, values["fpr"], "o-", label=method)
    for axis, title in ((axes[0], "Average Precision (higher is better)"),
                        (axes[1], "False Positive Rate (lower is better)")):
        axis.set_xlabel("layer")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.suptitle(f"Human rationales, ERASER movies {result['split']} ({result['examples']} windows)")
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=110)
    plt.close(figure)


def write_table(result, path, command):
    """AP and FPR per layer and method as a markdown table."""
    methods = result["methods"]
    layers = len(next(iter(methods.values()))["ap"])
    header = "| method | " + " | ".join(f"layer {i + 1}" for i in range(layers)) + " |"
    rule = "|---|" + "---|" * layers
    lines = [f"# Human rationales, ERASER movies {result['split']}", "",
             f"{result['examples']} windows of {result['documents']} reviews, max length {result['max_length']}. "
             f"Command: `{command}`.", ""]
    for key, title in (("ap", "Average Precision (higher: the scores rank rationale tokens first)"),
                       ("fpr", "False Positive Rate (lower: fewer non-rationale tokens kept at score >= 1/n)")):
        lines += [f"## {title}", "", header, rule]
        lines += [f"| {m} | " + " | ".join(f"{v:.3f}" for v in values[key]) + " |" for m, values in methods.items()]
        lines.append("")
    write_text(path, "\n".join(lines))
