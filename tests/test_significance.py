"""The paired bootstrap interval of a score drop (benchmarks/significance.py)."""

from analysis.significance import paired_bootstrap_interval

import numpy as np
import pytest


def accuracy(labels, predictions):
    return float(np.mean(labels == predictions))


def test_two_models_wrong_on_the_same_examples_get_a_zero_width_interval():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    predictions = np.where(rng.random(300) < 0.3, 1 - labels, labels)
    assert paired_bootstrap_interval(accuracy, labels, predictions, predictions.copy()) == (0.0, 0.0)


def test_the_interval_matches_the_normal_approximation_of_a_paired_difference():
    rng = np.random.default_rng(2)
    n = 2000
    labels = rng.integers(0, 2, n)
    reference = np.where(rng.random(n) < 0.12, 1 - labels, labels)
    candidate = np.where(rng.random(n) < 0.15, 1 - labels, labels)
    low, high = paired_bootstrap_interval(accuracy, labels, reference, candidate, resamples=4000)
    # Independently: the drop is the mean of per-example differences of correctness, whose standard
    # error is their standard deviation over sqrt(n).
    differences = (reference == labels).astype(float) - (candidate == labels)
    centre, half = differences.mean(), 1.96 * differences.std(ddof=1) / np.sqrt(n)
    assert low < centre < high
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert (low + high) / 2 == pytest.approx(centre, abs=0.1 * half)


def test_the_interval_narrows_as_the_split_grows():
    def width(n):
        rng = np.random.default_rng(3)
        labels = rng.integers(0, 2, n)
        reference = np.where(rng.random(n) < 0.1, 1 - labels, labels)
        candidate = np.where(rng.random(n) < 0.2, 1 - labels, labels)
        low, high = paired_bootstrap_interval(accuracy, labels, reference, candidate)
        return high - low

    # The standard error shrinks with sqrt(n): 16 times the examples, a quarter of the width.
    assert width(3200) / width(200) == pytest.approx(0.25, rel=0.25)


def test_the_same_seed_gives_the_same_interval_and_the_level_sets_its_width():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 500)
    reference, candidate = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    first = paired_bootstrap_interval(accuracy, labels, reference, candidate, seed=7)
    assert paired_bootstrap_interval(accuracy, labels, reference, candidate, seed=7) == first
    low, high = paired_bootstrap_interval(accuracy, labels, reference, candidate, seed=7, level=0.5)
    assert first[0] < low < high < first[1]


def test_outputs_of_other_examples_are_refused():
    labels = np.zeros(10, int)
    with pytest.raises(ValueError, match="cover 10, 10 and 9 examples"):
        paired_bootstrap_interval(accuracy, labels, labels, labels[:9])
