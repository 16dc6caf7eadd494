"""GLUE-style metrics on 0-1 scales (correlations on -1..1)."""

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef


def accuracy(labels, predictions):
    return float(np.mean(np.asarray(labels) == np.asarray(predictions)))


def f1(labels, predictions):
    return float(f1_score(labels, predictions))


def matthews(labels, predictions):
    return float(matthews_corrcoef(labels, predictions))


def pearson(labels, predictions):
    return float(pearsonr(labels, predictions)[0])


def spearman(labels, predictions):
    return float(spearmanr(labels, predictions)[0])


METRICS = {"accuracy": accuracy, "f1": f1, "matthews": matthews, "pearson": pearson, "spearman": spearman}


def compute(names, labels, predictions):
    """Dict of the named metrics, in order (the first one ranks checkpoints)."""
    return {name: METRICS[name](labels, predictions) for name in names}
