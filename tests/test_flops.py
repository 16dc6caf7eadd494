"""Analytic FLOPs against the original's fitted BERT-base constants and against TF's profiler."""

from analysis.profiled_flops import profiled_adapler_flops, profiled_bert_flops, profiled_pruned_flops
from models.flops import (
    adapler_flops,
    attention_significance_flops,
    bert_flops,
    contribution_predictor_flops,
    pruned_flops,
    speedup,
    truncation_length,
)
from tests.tiny import pruning_model, tiny_model

import numpy as np
import pytest
from transformers import BertConfig

LENGTHS = np.arange(8, 513)


@pytest.mark.parametrize("num_labels", [2, 3])
def test_bert_flops_match_the_original_fit_for_bert_base(num_labels):
    fitted = 37872 * LENGTHS**2 + 170216500 * LENGTHS + 1183490 + 1537 * (num_labels - 1)
    ours = bert_flops(BertConfig(), LENGTHS, num_labels)
    assert np.abs(ours / fitted - 1).max() < 0.01


@pytest.mark.parametrize("drop", [0, 1, 3])
def test_adapler_flops_match_the_original_fit_for_bert_base(drop):
    lengths = np.maximum(2, LENGTHS[:, None] - drop * np.arange(12)[None, :])
    fitted = 1183537 + 1537 + 6152 * lengths[:, 0] + np.sum(3156 * lengths**2 + 14233554 * lengths, axis=1)
    ours = adapler_flops(BertConfig(), lengths, 2, input_length=LENGTHS)
    assert np.abs(ours / fitted - 1).max() < 0.01


@pytest.mark.parametrize("layers,n", [(2, 8), (2, 40), (3, 17)])
def test_bert_flops_match_the_profiler_on_a_tiny_config(layers, n):
    model = tiny_model(num_layers=layers, adapler=False)
    profiled = profiled_bert_flops(model, n)
    assert abs(bert_flops(model.config, n, 3) / profiled - 1) < 0.02


@pytest.mark.parametrize("layers,lengths", [(2, [16, 9, 4]), (3, [30, 30, 12, 5])])
def test_adapler_flops_match_the_profiler_on_a_tiny_config(layers, lengths):
    model = tiny_model(num_layers=layers)
    profiled = profiled_adapler_flops(model, lengths[0], lengths[1:])
    analytic = adapler_flops(model.config, lengths[1:], 3, input_length=lengths[0])
    assert abs(analytic / profiled - 1) < 0.02


def test_adapler_flops_reject_a_wrong_number_of_layers():
    with pytest.raises(ValueError, match="3 layer lengths for a model with 12 layers"):
        adapler_flops(BertConfig(), [10, 9, 8], 2)


def test_speedup_is_a_ratio_of_totals_not_a_mean_of_ratios():
    assert speedup([100.0, 10.0], [50.0, 1.0]) == pytest.approx(110.0 / 51.0)


@pytest.mark.parametrize("kind, lengths", [("power_bert", ([16, 12, 7], [12, 7, 3])), ("ltp", ([30, 30, 9], [30, 9, 4]))])
def test_pruned_flops_count_attention_and_feed_forward_at_their_own_lengths_as_the_profiler_does(kind, lengths):
    model = pruning_model(kind)
    entering, leaving = lengths
    profiled = profiled_pruned_flops(model, entering[0], entering, leaving)
    scorer = sum(attention_significance_flops(model.config, n) for n in entering)
    analytic = pruned_flops(model.config, [entering], [leaving], 3, [entering[0]], scorer)[0]
    assert abs(analytic / profiled - 1) < 0.02
    # Counting both blocks at the entering length would be off by more than the tolerance.
    assert abs(pruned_flops(model.config, [entering], [entering], 3, [entering[0]], scorer)[0] / profiled - 1) > 0.05


def test_pruned_flops_with_equal_lengths_are_adapler_s_count_without_the_predictors():
    config = BertConfig()
    lengths = np.array([[40, 30, 30, 20, 20, 20, 10, 10, 10, 5, 5, 5]])
    scored = [40, 40, 30, 30, 20, 20, 20, 10, 10, 10, 5, 5]  # the CPs score the tokens entering each layer
    predictors = sum(contribution_predictor_flops(config, n) for n in scored)
    expected = adapler_flops(config, lengths, 2, input_length=[40])[0] - predictors
    assert pruned_flops(config, lengths, lengths, 2, [40])[0] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("target", [1.2, 2.0, 3.5])
def test_truncation_length_is_the_longest_cut_that_reaches_the_target(target):
    lengths = np.random.RandomState(0).randint(5, 64, size=400)
    config = BertConfig(num_hidden_layers=6, hidden_size=384, intermediate_size=1536, num_attention_heads=12)
    keep, gain = truncation_length(config, lengths, 2, target)
    total = bert_flops(config, lengths, 2).sum()
    assert gain == pytest.approx(total / bert_flops(config, np.minimum(lengths, keep), 2).sum())
    assert gain >= target > total / bert_flops(config, np.minimum(lengths, keep + 1), 2).sum()
