"""PoWER-BERT and LTP on tiny configs: physical removal equals the masked form, a padded batch equals each
example alone, the retention rule, LTP's thresholds, the soft phase's penalties and gradients."""

from models.ltp import base_thresholds
from models.power_bert import ranks, retention_configuration
from models.pruning_training import SoftPruningTrainer
from tests.tiny import assert_batch_equals_each_alone, padded_batch, pruning_model

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [12, 5, 9, 16]


@pytest.mark.parametrize("kind", ["power_bert", "ltp"])
def test_removal_equals_the_masked_form_and_removes_tokens(kind):
    model = pruning_model(kind)
    inputs = padded_batch(LENGTHS, seed=1)
    removed = model(inputs, lr_mode=True)
    with model.bert.encoder.masking():
        masked = model(inputs, lr_mode=True)
    np.testing.assert_allclose(removed.logits.numpy(), masked.logits.numpy(), atol=1e-5)
    for mine, theirs in zip(removed.kept_lengths, masked.kept_lengths):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    kept = np.stack([k.numpy() for k in removed.kept_lengths], axis=1)
    entering = np.stack([n.numpy() for n in removed.lengths], axis=1)
    np.testing.assert_array_equal(entering[:, 0], LENGTHS)
    np.testing.assert_array_equal(entering[:, 1:], kept[:, :-1])  # a layer's survivors enter the next one
    assert (kept <= entering).all() and kept[:, -1].sum() < sum(LENGTHS) and (kept >= 1).all()


@pytest.mark.parametrize("kind", ["power_bert", "ltp"])
def test_a_padded_batch_gives_each_example_what_it_gives_alone(kind):
    model = pruning_model(kind, seed=2)
    assert_batch_equals_each_alone(model, padded_batch(LENGTHS, seq_len=20, seed=3), LENGTHS,
                                   lambda output: output.kept_lengths, atol=1e-5)


def test_power_bert_keeps_cls_and_the_most_attended_tokens_up_to_its_configuration():
    model = pruning_model("power_bert", seed=4)
    out = model(padded_batch(LENGTHS, seed=5), lr_mode=True)
    kept = np.stack([k.numpy() for k in out.kept_lengths], axis=1)
    # Layer j keeps min(l_j, tokens entering it).
    expected = []
    for length in LENGTHS:
        current, counts = length, []
        for count in (10, 6, 3):
            current = min(count, current)
            counts.append(current)
        expected.append(counts)
    np.testing.assert_array_equal(kept, expected)


def test_ranks_order_by_score_among_candidates_and_keep_position_order_on_ties():
    scores = tf.constant([[0.5, 0.1, 0.9, 0.1, 0.3]])
    candidates = tf.constant([[False, True, True, True, True]])
    np.testing.assert_array_equal(ranks(scores, candidates).numpy(), [[4, 2, 0, 3, 1]])


@pytest.mark.parametrize("weights, expected", [
    ([[1.0, 1.0, 0.6], [0.9, 0.9, 0.9], [0.2, 0.2, 0.0]], [2, 2, 1]),   # floor, at least 1
    ([[0.5, 0.4, 0.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], [1, 1, 1]),   # never more than the layer before
    ([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [1, 1, 1]),   # collapsed weights keep [CLS] only
    ([[1.0, 1.0, 1.0], [1.0, 1.0, 0.99], [1.0, 0.5, 0.5]], [3, 2, 2]),
])
def test_the_retention_configuration_rule(weights, expected):
    assert retention_configuration(weights) == expected


def test_ltp_thresholds_grow_linearly_with_the_layer_from_zero_plus_the_learned_offsets():
    np.testing.assert_allclose(base_thresholds(0.06, 6), [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], atol=1e-7)
    pruner = pruning_model("ltp").bert.encoder.pruner
    np.testing.assert_allclose(pruner.thresholds.numpy(), base_thresholds(0.15, 3) + 0.01, atol=1e-7)


def test_ltp_scores_of_an_example_sum_to_its_length_over_the_normaliser():
    model = pruning_model("ltp")
    inputs = padded_batch(LENGTHS, seed=6)
    out = model(inputs, lr_mode=True, output_explanations=True)
    np.testing.assert_allclose(out.explanations[0].numpy().sum(axis=1), np.array(LENGTHS) / 16, rtol=1e-5)


def test_power_bert_significance_is_the_attention_received_from_live_queries_minus_self_attention():
    model = pruning_model("power_bert")
    pruner = model.bert.encoder.pruner
    probs = tf.random.stateless_uniform([1, 2, 4, 4], seed=[1, 1])
    live = tf.constant([[1.0, 1.0, 1.0, 0.0]])
    expected = probs.numpy().mean(axis=1)[0, :3].sum(axis=0) - np.diag(probs.numpy().mean(axis=1)[0])[:4]
    expected = expected * live.numpy()[0]
    np.testing.assert_allclose(pruner.significance(0, probs, live).numpy()[0], expected, atol=1e-6)


@pytest.mark.parametrize("kind", ["power_bert", "ltp"])
def test_the_soft_phase_moves_the_pruner_state_and_adds_its_penalty(kind):
    model = pruning_model(kind, seed=7)
    pruner = model.bert.encoder.pruner
    before = [v.numpy().copy() for v in pruner.state_variables]
    trainer = SoftPruningTrainer(model, tf.keras.optimizers.SGD(1e-2), tf.keras.optimizers.SGD(1.0))
    inputs = padded_batch(LENGTHS, seed=8)
    element = (inputs, tf.constant([0, 1, 2, 0]), tf.range(4, dtype=tf.int64))
    metrics = trainer.train_step(element)
    assert metrics["loss"] == pytest.approx(metrics["task_loss"] + metrics["penalty"], rel=1e-5)
    assert metrics["penalty"] > 0
    moved = max(np.abs(v.numpy() - b).max() for v, b in zip(pruner.state_variables, before))
    assert moved > 1e-6
    if kind == "power_bert":
        weights = pruner.retention_weights.numpy()
        assert weights.min() >= 0.0 and weights.max() <= 1.0


def test_the_power_bert_penalty_weights_each_layer_by_its_depth():
    model = pruning_model("power_bert")
    pruner = model.bert.encoder.pruner
    pruner.retention_weights.assign(np.full((3, 16), 0.5, np.float32))
    assert float(pruner.penalty(None, None)) == pytest.approx(1e-3 * (1 + 2 + 3) * 8.0)
