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


def recall(labels, kept):
    """Share of rationale tokens that were kept (NaN when there is none)."""
    labels = np.asarray(labels, bool)
    positives = labels.sum()
    return float((np.asarray(kept, bool) & labels).sum() / positives) if positives else float("nan")


def top_k(scores, k):
    """Keeps the `k` highest scores; among equal scores the earlier position wins."""
    kept = np.zeros(len(scores), bool)
    kept[np.argsort(-np.asarray(scores, np.float64), kind="stable")[:k]] = True
    return kept


def layer_agreement(scores, rationale, live_lengths, budget=None):
    """Per-example agreement of one layer's scores with the rationale, over the non-special tokens.

    Args:
        scores: `[T]` scores of one example (0 where a token is gone).
        rationale: `[T]` 0/1 rationale mask, 0 on [CLS]/[SEP]/padding.
        live_lengths: Tokens live when the scores were made ([CLS] included): at the method's own
            threshold a token is kept iff its score >= 1/n.
        budget: Tokens to keep at a matched budget (the CP's own-threshold count at this layer);
            None leaves the matched metrics out.

    Returns:
        Dict with `ap`, `fpr`, `recall`, `kept_rate` and `kept` (count) at the own threshold, plus
        `fpr_matched` and `recall_matched` (the `budget` highest scores kept) when a budget is given.
    """
    length = len(rationale)
    inner = slice(1, length - 1)
    labels, values = rationale[inner], scores[inner]
    kept = values >= 1.0 / live_lengths
    result = {"ap": average_precision(labels, values), "fpr": false_positive_rate(labels, kept),
              "recall": recall(labels, kept), "kept_rate": float(kept.mean()), "kept": int(kept.sum())}
    if budget is not None:
        matched = top_k(values, budget)
        result.update(fpr_matched=false_positive_rate(labels, matched), recall_matched=recall(labels, matched))
    return result
