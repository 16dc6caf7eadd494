"""How far a score difference measured on one dev split could move: a paired bootstrap over its examples."""

from pipeline.evaluation import score

import numpy as np


def paired_bootstrap_interval(metric, labels, reference, candidate, resamples=2000, level=0.95, seed=0):
    """Percentile interval of `metric(reference) - metric(candidate)` over resamples of the examples.

    Each resample scores both models on the same examples, so the interval reflects where the two
    disagree example by example, not how hard the split happens to be: two models wrong on the same
    examples get a zero-width interval whatever their accuracy. On SST-2's 872 dev sentences one
    point is 9 sentences, and a drop near a point cannot be told from one a little over or under.

    Args:
        metric: `metric(labels, outputs) -> float`, e.g. accuracy of logits.
        labels: `[N]` labels.
        reference: `[N, ...]` outputs of the reference model (the fine-tuned one).
        candidate: `[N, ...]` outputs of the model compared with it (AdapLeR), same examples.
        resamples: Bootstrap resamples.
        level: Coverage of the interval, e.g. 0.95.
        seed: Seed of the resampling, so a rerun gives the same interval.

    Returns:
        `(low, high)` as floats.
    """
    labels, reference, candidate = np.asarray(labels), np.asarray(reference), np.asarray(candidate)
    if not len(labels) == len(reference) == len(candidate):
        raise ValueError(f"labels, reference and candidate cover {len(labels)}, {len(reference)} and "
                         f"{len(candidate)} examples; they must be the same examples.")
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for draw in range(resamples):
        rows = rng.integers(0, len(labels), len(labels))
        differences[draw] = metric(labels[rows], reference[rows]) - metric(labels[rows], candidate[rows])
    tail = 50.0 * (1.0 - level)
    low, high = np.percentile(differences, [tail, 100.0 - tail])
    return float(low), float(high)


def drop_interval(task, labels, reference_logits, candidate_logits):
    """95% interval of the task's first metric, reference minus candidate, as `[low, high]`.

    Args:
        task: The task (its first metric is scored).
        labels: `[N]` labels.
        reference_logits: `[N, K]` logits of the fine-tuned model.
        candidate_logits: `[N, K]` logits of AdapLeR on the same examples.

    Returns:
        `[low, high]` (a list, as stored in JSON).
    """
    metric = task.metrics[0]
    return list(paired_bootstrap_interval(lambda rows, logits: score(task, rows, logits)[metric],
                                          labels, reference_logits, candidate_logits))
