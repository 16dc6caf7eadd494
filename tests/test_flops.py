"""Analytic FLOPs against the original's fitted BERT-base constants and against TF's profiler."""

from analysis.profiled_flops import profiled_adapler_flops, profiled_bert_flops
from models.flops import adapler_flops, bert_flops, speedup
from tests.tiny import tiny_model

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
