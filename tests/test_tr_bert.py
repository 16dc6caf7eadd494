"""TR-BERT on tiny configs: physical removal equals the masked form at the two selection points, a padded batch
equals each example alone, the policy gradient's direction, the reward, imitation and the FLOPs counter."""

from analysis.profiled_flops import profiled_policy_flops
from models.flops import bert_flops, embedding_flops, encoder_layer_flops, head_flops, model_flops, policy_flops
from models.tr_bert import (
    kept_fraction,
    late_layer,
    log_likelihood,
    policy_gradient_loss,
    residual_top_k,
    rewards,
    selection_points,
)
from models.tr_bert_training import TRBertTrainer
from tests.tiny import assert_batch_equals_each_alone, padded_batch, tr_bert_model

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [12, 5, 9, 16]


def stacked(lengths):
    return np.stack([n.numpy() for n in lengths], axis=1)


@pytest.mark.parametrize("layers, points, late", [(4, (1, 2), 3), (6, (1, 3), 5), (12, (1, 6), 9)])
def test_the_selection_points_and_the_late_layer(layers, points, late):
    assert selection_points(layers) == points and late_layer(layers) == late > points[-1]


def test_fewer_than_four_layers_are_refused():
    with pytest.raises(ValueError, match="distinct only from 4 layers; got 3"):
        selection_points(3)


def test_removal_equals_the_masked_form_and_changes_lengths_only_at_the_points():
    model = tr_bert_model()
    inputs = padded_batch(LENGTHS, seed=1)
    removed = model(inputs, lr_mode=True)
    with model.bert.encoder.masking():
        masked = model(inputs, lr_mode=True)
    np.testing.assert_allclose(removed.logits.numpy(), masked.logits.numpy(), atol=1e-5)
    entering = stacked(removed.lengths)
    np.testing.assert_array_equal(entering, stacked(masked.lengths))
    np.testing.assert_array_equal(entering, stacked(removed.kept_lengths))  # nothing is removed inside a layer
    np.testing.assert_array_equal(entering[:, 0], LENGTHS)
    np.testing.assert_array_equal(entering[:, 0], entering[:, 1 - 1])
    assert (entering[:, 3] == entering[:, 2]).all()  # layer 3 is no selection point on 4 layers
    assert (entering[:, 1] < entering[:, 0]).any() and (entering[:, 2] <= entering[:, 1]).all()
    assert (entering >= 1).all()


def test_inference_keeps_the_tokens_whose_probability_reaches_one_half():
    model = tr_bert_model(seed=3)
    inputs = padded_batch([16], seed=4)
    states = model(inputs, output_hidden_states=True).hidden_states[1]  # plain soft pass: states entering layer 1
    probabilities = model.bert.encoder.pruner.policies[0](states).numpy()[0]
    expected = 1 + int(np.sum(probabilities[1:] >= 0.5))  # [CLS] always
    assert model(inputs, lr_mode=True).lengths[1].numpy()[0] == expected


def test_a_padded_batch_gives_each_example_what_it_gives_alone():
    model = tr_bert_model(seed=2)
    assert_batch_equals_each_alone(model, padded_batch(LENGTHS, seq_len=20, seed=3), LENGTHS,
                                   lambda output: output.lengths, atol=1e-5)


def test_the_policy_gradient_raises_a_helpful_token_s_probability_and_lowers_a_harmful_one_s():
    logits = tf.Variable([[0.0, 0.0, 0.0]])  # [CLS], a token whose keeping helps, one whose keeping hurts
    candidates = tf.constant([[False, True, True]])
    optimizer = tf.keras.optimizers.SGD(0.5)
    samples = 64
    for _ in range(40):
        with tf.GradientTape() as tape:
            p = tf.tile(tf.sigmoid(logits), [samples, 1])
            actions = tf.cast(tf.random.uniform(tf.shape(p), seed=1) < p, tf.float32)
            reward = actions[:, 1] - actions[:, 2]
            loss = policy_gradient_loss(reward, log_likelihood(p, actions, candidates), samples)
        optimizer.apply_gradients([(tape.gradient(loss, logits), logits)])
    p = tf.sigmoid(logits).numpy()[0]
    assert p[1] > 0.9 and p[2] < 0.1 and p[0] == 0.5  # [CLS] is no candidate: untouched


def test_the_baseline_is_the_mean_reward_of_an_example_s_rollouts():
    # Two rollouts of one example with equal rewards: no advantage, no gradient.
    log_probability = tf.Variable([-1.0, -2.0])
    with tf.GradientTape() as tape:
        loss = policy_gradient_loss(tf.constant([3.0, 3.0]), log_probability, 2)
    np.testing.assert_allclose(tape.gradient(loss, log_probability).numpy(), [0.0, 0.0])
    with tf.GradientTape() as tape:
        loss = policy_gradient_loss(tf.constant([4.0, 2.0]), log_probability, 2)
    # advantage +1 and -1, loss = mean(a * -logp): d/dlogp = -a / 2
    np.testing.assert_allclose(tape.gradient(loss, log_probability).numpy(), [-0.5, 0.5])


def test_the_reward_is_minus_the_loss_minus_alpha_times_the_kept_fraction():
    logits = np.array([[2.0, -1.0], [0.5, 0.5]], np.float32)
    labels = np.array([0, 1])
    ce = -np.log(np.exp(logits[np.arange(2), labels]) / np.exp(logits).sum(axis=1))
    kept = [tf.constant([6.0, 10.0]), tf.constant([3.0, 5.0])]  # after each point, [CLS] included
    lengths = tf.constant([12, 10])
    fraction = kept_fraction(kept, lengths).numpy()
    np.testing.assert_allclose(fraction, [(6 / 12 + 3 / 12) / 2, (10 / 10 + 5 / 10) / 2])
    reward = rewards(tf.constant(ce, tf.float32), tf.constant(fraction), 2.0).numpy()
    np.testing.assert_allclose(reward, -ce - 2.0 * fraction, rtol=1e-6)
    assert reward[0] > reward[1]  # the confident, correct, shorter rollout is better


def test_imitation_keeps_the_top_round_sum_p_candidates_by_residual_score():
    residual = tf.constant([[9.0, 0.1, 0.7, 0.3, 0.9, 5.0]])
    probabilities = tf.constant([[1.0, 0.9, 0.6, 0.4, 0.2, 0.8]])  # candidates sum to 2.1 -> k = 2
    candidates = tf.constant([[False, True, True, True, True, False]])  # [CLS] and a dead token are out
    np.testing.assert_array_equal(residual_top_k(residual, probabilities, candidates).numpy(),
                                  [[False, False, True, False, True, False]])


def test_the_soft_mode_samples_actions_and_imitating_rows_follow_the_residual_scores():
    model = tr_bert_model(seed=5)
    pruner = model.bert.encoder.pruner
    inputs = padded_batch([16, 16], seed=6)
    residual = tf.constant(np.random.RandomState(0).rand(2, 16, 2).astype(np.float32))
    with pruner.guided(residual, tf.constant([True, False])):
        out = model(inputs, output_explanations=True)
    first, probabilities = out.soft_masks[0].numpy(), out.explanations[0]
    assert set(np.unique(first)) <= {0.0, 1.0}
    candidates = np.arange(16)[None, :] > 0
    imitated = residual_top_k(residual[..., 0], probabilities, tf.constant(np.repeat(candidates, 2, axis=0))).numpy()
    np.testing.assert_array_equal(first[0, 1:], imitated[0, 1:])


@pytest.mark.parametrize("joint", [False, True])
def test_the_rl_phase_trains_the_policies_alone_and_the_joint_phase_every_weight(joint):
    model = tr_bert_model(seed=7)
    policies = model.bert.encoder.pruner.state_variables
    backbone = model.bert.encoder.layer[0].attention.self_attention.query.kernel
    before = [v.numpy().copy() for v in policies], backbone.numpy().copy()
    trainer = TRBertTrainer(model, tf.keras.optimizers.SGD(0.1), alpha=1.0, samples=4, imitation_steps=1,
                            joint=joint)
    inputs = padded_batch(LENGTHS, seed=8)
    residual = tf.constant(np.random.RandomState(1).rand(4, 16, 2).astype(np.float32))
    metrics = trainer.train_step((inputs, tf.constant([0, 1, 2, 0]), tf.range(4, dtype=tf.int64), residual))
    assert np.isfinite(metrics["loss"]) and 0 < metrics["kept"] <= 1
    assert max(np.abs(v.numpy() - b).max() for v, b in zip(policies, before[0])) > 0
    assert (np.abs(backbone.numpy() - before[1]).max() > 0) == joint


def test_flops_count_every_layer_at_its_length_and_a_policy_at_each_point():
    model = tr_bert_model(seed=9)
    config = model.config
    inputs = padded_batch(LENGTHS, seed=10)
    out = model(inputs, lr_mode=True)
    lengths = stacked(out.lengths)
    counted = model_flops(model, 3, np.array(LENGTHS), {"lengths": lengths, "kept_lengths": stacked(out.kept_lengths)})
    for example, n in enumerate(LENGTHS):
        layers = lengths[example]
        expected = (embedding_flops(config, n) + sum(encoder_layer_flops(config, m) for m in layers)
                    + policy_flops(config, layers[0]) + policy_flops(config, layers[1]) + head_flops(config, 3))
        assert counted[example] == pytest.approx(expected, rel=1e-12)
        assert counted[example] < bert_flops(config, n, 3) or layers[-1] == n


@pytest.mark.parametrize("n", [8, 30])
def test_the_policy_s_flops_match_the_profiler(n):
    model = tr_bert_model()
    profiled = profiled_policy_flops(model.bert.encoder.pruner, 1, n, model.config.hidden_size)
    assert abs(policy_flops(model.config, n) / profiled - 1) < 0.05
