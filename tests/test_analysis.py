"""Attention maps, the rationale evaluation loop and the token-drop map on tiny random models."""

from analysis.attention_maps import cls_attention_maps
from tasks.rationales import RationaleWindow
from tests.tiny import padded_batch, row, tiny_model

import numpy as np
import pytest

LENGTHS = [9, 6, 12]


def test_attention_maps_are_distributions_and_ignore_padding():
    model = tiny_model(seed=1, adapler=False, num_layers=3)
    inputs = padded_batch(LENGTHS, seq_len=14, seed=1)
    attention, rollout = (m.numpy() for m in cls_attention_maps(model, inputs))
    assert attention.shape == rollout.shape == (3, 3, 14)
    np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)
    for index, length in enumerate(LENGTHS):
        assert (attention[index, :, length:] == 0).all() and (rollout[index, :, length:] == 0).all()
        alone_attention, alone_rollout = (m.numpy() for m in cls_attention_maps(model, row(inputs, index, length)))
        np.testing.assert_allclose(attention[index, :, :length], alone_attention[0], atol=1e-5)
        np.testing.assert_allclose(rollout[index, :, :length], alone_rollout[0], atol=1e-5)
        np.testing.assert_allclose(rollout[index].sum(-1), 1.0, atol=1e-5)


def test_rationale_evaluation_gives_per_layer_ap_and_fpr_for_every_method():
    from analysis.rationale_agreement import METHODS, evaluate

    rng = np.random.RandomState(0)
    windows = []
    for length in (10, 14, 7, 12):
        ids = rng.randint(3, 60, size=length).astype(np.int32)
        ids[0], ids[-1] = 1, 2
        rationale = np.zeros(length, np.int8)
        rationale[2:4] = 1
        windows.append(RationaleWindow("doc", 0, ids, rationale, int(rng.randint(0, 2))))
    adapler = tiny_model(seed=2, num_layers=2, num_labels=2)
    plain = tiny_model(seed=3, adapler=False, num_layers=2, num_labels=2)
    adapler.bert.encoder.ETA.assign([0.8, 0.9])
    result = evaluate(windows, adapler, plain, batch_size=3)
    assert set(result) == set(METHODS)
    for values in result.values():
        assert set(values) == {"ap", "fpr", "recall", "kept_rate", "fpr_matched", "recall_matched"}
        assert all(len(v) == 2 and all(0.0 <= x <= 1.0 for x in v) for v in values.values())
    # Saliency does not depend on the layer.
    assert result["saliency"]["ap"][0] == pytest.approx(result["saliency"]["ap"][1])
    # The budget is the CP's own count, so the CP's matched selection is its own selection.
    np.testing.assert_allclose(result["cp"]["fpr_matched"], result["cp"]["fpr"])
    np.testing.assert_allclose(result["cp"]["recall_matched"], result["cp"]["recall"])


def test_matched_budget_metrics_by_hand():
    from analysis.rationale_metrics import layer_agreement, top_k

    assert list(top_k([0.1, 0.5, 0.5, 0.2], 2)) == [False, True, True, False]
    assert list(top_k([0.3, 0.3, 0.3], 2)) == [True, True, False]  # ties: earlier positions first
    rationale = np.array([0, 1, 1, 0, 0, 0])  # [CLS] r r x x [SEP]
    scores = np.array([0.5, 0.1, 0.3, 0.4, 0.05, 0.0])
    found = layer_agreement(scores, rationale, live_lengths=5, budget=1)
    # Own threshold 1/5: tokens 2 (rationale) and 3 (not) are kept.
    assert (found["kept"], found["kept_rate"], found["recall"], found["fpr"]) == (2, 0.5, 0.5, 0.5)
    # Budget 1: only token 3, the highest, which is no rationale.
    assert (found["fpr_matched"], found["recall_matched"]) == (0.5, 0.0)


def test_drop_map_greys_exactly_the_tokens_removed_before_each_layer():
    from analysis.token_drops import drop_map

    model = tiny_model(seed=4, num_layers=3)
    model.bert.encoder.ETA.assign([0.9, 1.0, 1.0])
    inputs = padded_batch([12], seed=4)
    scores, lengths = drop_map(model, inputs)
    assert not np.isnan(scores[0]).any()
    for layer in range(1, 3):
        assert (~np.isnan(scores[layer])).sum() == lengths[layer - 1]
    assert lengths[-1] < 12


def test_rationale_table_lists_every_method_and_layer(tmp_path):
    from analysis.rationale_agreement import write_table

    result = {"split": "test", "examples": 3, "documents": 2, "max_length": 64,
              "methods": {m: {"ap": [0.5, 0.25], "fpr": [0.125, 0.0]} for m in ("cp", "attention")}}
    write_table(result, str(tmp_path / "r.md"), "python tools/rationale_eval.py")
    text = (tmp_path / "r.md").read_text()
    assert "| cp | 0.500 | 0.250 |" in text and "| attention | 0.125 | 0.000 |" in text
    assert "| method | layer 1 | layer 2 |" in text
