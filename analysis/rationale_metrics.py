"""Agreement of token scores with human rationales: Average Precision and False Positive Rate."""

import numpy as np


def average_precision(labels, scores):
    """Average Precision of `scores` ranking the positive `labels` (scikit-learn's definition).

    `AP = sum_k (R_k - R_{k-1}) P_k` over the distinct score thresholds, highest first; tied
    scores enter together.

    Args:
        labels: 0/1 array.
        scores: Array of the same length.

    Returns:
        AP, or NaN when there is no positive.
    """
    labels = np.asarray(labels, np.float64)
    scores = np.asarray(scores, np.float64)
    if labels.sum() == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    true_positives = np.cumsum(labels)[last_of_tie]
    precision = true_positives / (last_of_tie + 1)
    recall = true_positives / labels.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def false_positive_rate(labels, kept):
    """Share of non-rationale tokens that were kept (NaN when every token is a rationale)."""
    labels = np.asarray(labels, bool)
    kept = np.asarray(kept, bool)
    negatives = (~labels).sum()
    return float((kept & ~labels).sum() / negatives) if negatives else float("nan")


def layer_agreement(scores, rationale, live_lengths):
    """Per-example AP and FPR of one layer's scores, over the non-special tokens.

    Args:
        scores: `[T]` scores of one example (0 where a token is gone).
        rationale: `[T]` 0/1 rationale mask, 0 on [CLS]/[SEP]/padding.
        live_lengths: Tokens live when the scores were made ([CLS] included): a token is kept
            iff its score >= 1/n.

    Returns:
        `(ap, fpr)`.
    """
    length = len(rationale)
    inner = slice(1, length - 1)
    kept = scores >= 1.0 / live_lengths
    return (average_precision(rationale[inner], scores[inner]),
            false_positive_rate(rationale[inner], kept[inner]))
