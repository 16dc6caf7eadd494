"""Do the tokens each layer keeps agree with human rationales? (SPEC 6, ERASER movie reviews)

    python tools/rationale_eval.py --TASK=movie_rationales --MAX_LENGTH=256 --SPLIT=test \
        --SAVE_NAME=bench --GAMMA=1 --PHI=10

Per layer, mean Average Precision (soft scores against the rationale mask) and False Positive
Rate (kept iff score >= 1/n) over rationale-bearing windows, for the AdapLeR CPs (hard removal:
a token removed earlier scores 0), the fine-tuned model's head-averaged [CLS] attention, its
attention rollout, and its gradient x input saliency. Writes JSON and a PNG plot.
"""

import _bootstrap  # noqa: F401

import os

import numpy as np
import pipeline  # noqa: F401
import tensorflow as tf
from absl import flags
from tqdm import tqdm

from analysis.attention_maps import cls_attention_maps
from analysis.rationale_metrics import layer_agreement
from models.saliency import saliency_step
from pipeline.atomic import atomic_path, write_json
from pipeline.data import Encoded, batches, num_batches
from pipeline.paths import REPO
from pipeline.stage import (FLAGS, current_task, define_adapler_name_flags, define_common_flags, run, task_dir,
                            tokenizer, trained_model)
from tasks.rationales import load_rationale_windows
from tasks.readers import DataError

METHODS = ("cp", "attention", "rollout", "saliency")
flags.DEFINE_enum("SPLIT", "test", ["train", "validation", "test"], "ERASER split to evaluate.")
flags.DEFINE_string("OUTPUT", os.path.join(REPO, "benchmarks", "results", "rationales.json"), "Result JSON.")
define_adapler_name_flags()
define_common_flags(batch_size=16)


def _normalised(scores, length):
    scores = np.asarray(scores[:length], np.float64)
    return scores / scores.sum()


def evaluate(windows, adapler, plain, batch_size):
    """Per-method, per-layer lists of (AP, FPR) over the windows."""
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


def main(argv):
    del argv
    task = current_task()
    if task.name != "movie_rationales":
        raise DataError("The rationale analysis needs --TASK=movie_rationales (ERASER movie reviews).")
    if not FLAGS.DATA_DIR:
        raise DataError("The rationale analysis reads the ERASER files: give --DATA_DIR (holding eraser/movies).")
    dirs = task_dir().require()
    windows = load_rationale_windows(os.path.join(FLAGS.DATA_DIR, "eraser", "movies"), FLAGS.SPLIT, tokenizer(),
                                     FLAGS.MAX_LENGTH)
    if FLAGS.EVAL_EXAMPLES:
        windows = windows[: FLAGS.EVAL_EXAMPLES]
    adapler, adapler_path = trained_model(task, dirs, lr_model=True)
    plain, plain_path = trained_model(task, dirs, lr_model=False)
    result = {
        "split": FLAGS.SPLIT, "examples": len(windows), "documents": len({w.doc_id for w in windows}),
        "max_length": FLAGS.MAX_LENGTH, "adapler_checkpoint": adapler_path, "finetuned_checkpoint": plain_path,
        "methods": evaluate(windows, adapler, plain, FLAGS.BATCH_SIZE),
    }
    write_json(FLAGS.OUTPUT, result)
    plot(result, os.path.splitext(FLAGS.OUTPUT)[0] + ".png")
    for method, values in result["methods"].items():
        print(f"{method:>9}  AP " + " ".join(f"{v:.3f}" for v in values["ap"]) +
              "   FPR " + " ".join(f"{v:.3f}" for v in values["fpr"]))


if __name__ == "__main__":
    run(main)
