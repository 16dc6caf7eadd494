"""The AdapLeR training step (docs/method.md, section 2) on a synthetic task where one token decides the label."""

from models.adapler_training import AdapLeRTrainer, lambda_schedule, make_optimizers
from models.losses import TaskObjective, distillation_loss, task_loss
from models.optimizers import make_optimizer
from models.saliency_target import kl_divergence, layer_kl_losses
from models.trainer import NonFiniteLossError
from pipeline.evaluation import INPUT_SPEC
from tests.tiny import gradient_driven, tiny_model

import numpy as np
import pytest
import tensorflow as tf

SEQ_LEN = 12
CUE = {0: 3, 1: 4}


def synthetic_batch(size, seed):
    """A dataset element `(inputs, labels, indices, saliencies)`: the label is which cue token (3 or 4) appears
    once among random filler tokens, and the saliency marks it."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(5, 60, size=(size, SEQ_LEN)).astype(np.int32)
    ids[:, 0], ids[:, -1] = 1, 2
    labels = rng.randint(0, 2, size=size)
    cue_at = rng.randint(1, SEQ_LEN - 1, size=size)
    ids[np.arange(size), cue_at] = [CUE[label] for label in labels]
    saliencies = np.full((size, SEQ_LEN), 0.01, np.float32)
    saliencies[np.arange(size), cue_at] = 1.0
    inputs = {
        "input_ids": tf.constant(ids),
        "attention_mask": tf.ones_like(tf.constant(ids)),
        "token_type_ids": tf.zeros_like(tf.constant(ids)),
    }
    return inputs, tf.constant(labels, tf.int32), tf.range(size, dtype=tf.int64), tf.constant(saliencies)


@pytest.mark.parametrize("epochs,expected", [(5, [10, 100, 1e3, 1e4, 1e5]), (10, [10 * 3**e for e in range(10)]),
                                             (3, [50, 2500, 125000])])
def test_lambda_schedule_reproduces_the_original_three(epochs, expected):
    np.testing.assert_allclose([lambda_schedule(e, epochs) for e in range(epochs)], expected)


@pytest.mark.parametrize("epochs", [1, 2, 4, 7, 20])
def test_lambda_schedule_grows_for_any_length(epochs):
    values = [lambda_schedule(e, epochs) for e in range(epochs)]
    assert values == sorted(values) and values[0] >= 10


def test_kl_is_zero_when_the_cp_matches_its_target():
    target = tf.constant([[0.2, 0.5, 0.3, 0.0]])
    assert float(kl_divergence(target, target)[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(kl_divergence(target, tf.constant([[0.25, 0.25, 0.25, 0.25]]))[0]) > 0.05


def test_layer_kl_targets_follow_the_saliency_over_live_tokens():
    saliencies = tf.constant([[1.0, 2.0, 1.0, 9.0]])
    mask = tf.constant([[1, 1, 1, 0]])
    perfect = tf.constant([[0.25, 0.5, 0.25, 0.0]])
    losses = layer_kl_losses(saliencies, [perfect, perfect], mask, tf.constant([1e-3, 1e-3]), tf.constant([1.0]), 1e20)
    np.testing.assert_allclose(losses.numpy(), [0.0, 0.0], atol=1e-5)


def test_training_lowers_the_loss_moves_eta_and_removes_tokens_at_inference():
    model = tiny_model(seed=7, num_layers=2, num_labels=2)
    steps = 80
    optimizer, speedup_optimizer = make_optimizers(steps, learning_rate=2e-3, warmup_ratio=0.0)
    trainer = AdapLeRTrainer(model, optimizer, speedup_optimizer, gamma=0.1, phi=0.05)
    eta_before = model.bert.encoder.ETA.numpy().copy()
    losses = []
    for step in range(steps):
        trainer.set_lambda(lambda_schedule(step * 3 // steps, 3))
        losses.append(trainer.train_step(synthetic_batch(32, seed=step))["loss"])
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    assert not np.allclose(model.bert.encoder.ETA.numpy(), eta_before)
    inputs, labels, _, _ = synthetic_batch(64, seed=999)
    out = model(inputs, lr_mode=True)
    accuracy = np.mean(np.argmax(out.logits.numpy(), -1) == labels.numpy())
    assert accuracy >= 0.9
    assert out.lengths[-1].numpy().mean() < SEQ_LEN - 1


# Two lengths and a smaller last batch: what one epoch of length-grouped batches brings.
SHAPES = [(8, 12), (8, 7), (3, 12)]


def _shaped_batches():
    for size, length in SHAPES:
        inputs, labels, indices, saliencies = synthetic_batch(size, seed=length + size)
        yield {key: value[:, :length] for key, value in inputs.items()}, labels, indices, saliencies[:, :length]


def _trainer(seed):
    model = tiny_model(seed=seed, num_layers=2, num_labels=2)
    trainer = AdapLeRTrainer(model, *make_optimizers(10, learning_rate=1e-3, warmup_ratio=0.0))
    trainer.set_lambda(50.0)
    return model, trainer


def _traced_trainer(seed):
    model, trainer = _trainer(seed)
    trainer.trace((INPUT_SPEC, tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int64),
                   tf.TensorSpec([None, None], tf.float32)))
    return model, trainer


def test_a_traced_step_takes_batches_of_any_length_and_size_without_tracing_again():
    _, trainer = _traced_trainer(seed=4)
    for batch in _shaped_batches():
        trainer.train_step(batch)
    assert trainer._compute.experimental_get_tracing_count() == 1


def test_a_traced_step_updates_the_weights_as_steps_traced_for_each_shape_do():
    traced, trainer = _traced_trainer(seed=4)
    untraced, per_shape = _trainer(seed=4)
    for batch in _shaped_batches():
        trainer.train_step(batch)
        per_shape.train_step(batch)
    assert per_shape._compute.experimental_get_tracing_count() > 1
    for one, two in zip(traced.trainable_variables, untraced.trainable_variables):
        if gradient_driven(one.name, one.numpy()) is not None:
            np.testing.assert_allclose(gradient_driven(one.name, one.numpy()), gradient_driven(two.name, two.numpy()),
                                       atol=1e-6, err_msg=one.name)


def test_gradient_accumulation_applies_once_every_k_steps():
    model = tiny_model(seed=8, num_layers=2, num_labels=2)
    optimizer, speedup_optimizer = make_optimizers(10, learning_rate=1e-3, warmup_ratio=0.0)
    trainer = AdapLeRTrainer(model, optimizer, speedup_optimizer, acc_steps=3)
    kernel = model.classifier.kernel
    before = kernel.numpy().copy()
    for step in range(2):
        trainer.train_step(synthetic_batch(8, seed=step))
        np.testing.assert_array_equal(kernel.numpy(), before)
    trainer.train_step(synthetic_batch(8, seed=2))
    assert not np.allclose(kernel.numpy(), before)
    assert int(optimizer.iterations.numpy()) == 1


def test_an_update_clamps_eta_to_its_range_and_keeps_theta_positive():
    model = tiny_model(seed=9, num_layers=3, num_labels=2)
    trainer = AdapLeRTrainer(model, *make_optimizers(20, learning_rate=1e-3, warmup_ratio=0.0), phi=100.0)
    model.bert.encoder.ETA.assign([0.001, 0.5, 1.5])
    model.bert.encoder.THETA.assign([-0.5, 1.0])
    trainer.train_step(synthetic_batch(8, seed=0))
    eta = model.bert.encoder.ETA.numpy()
    assert eta[0] == pytest.approx(0.01) and eta[2] == pytest.approx(1.0)
    assert 0.4 < eta[1] < 0.6
    assert model.bert.encoder.THETA.numpy().min() >= 1e-3


def test_speedup_gradients_reach_eta_and_theta_separately():
    model = tiny_model(seed=10, num_layers=3, num_labels=2)
    optimizer, speedup_optimizer = make_optimizers(10, learning_rate=1e-3, warmup_ratio=0.0)
    trainer = AdapLeRTrainer(model, optimizer, speedup_optimizer, phi=1.0)
    trainer._compute(synthetic_batch(8, seed=0))
    eta_grad, theta_grad = (a.numpy() for a in trainer.accumulators[-2:])
    assert np.abs(eta_grad).sum() > 0 and np.abs(theta_grad).sum() > 0
    assert eta_grad.shape == (3,) and theta_grad.shape == (2,)


def test_nan_loss_stops_with_a_clear_message_and_leaves_weights_untouched():
    model = tiny_model(seed=11, num_layers=2, num_labels=2)
    optimizer, speedup_optimizer = make_optimizers(10)
    trainer = AdapLeRTrainer(model, optimizer, speedup_optimizer)
    inputs, labels, indices, sals = synthetic_batch(4, seed=0)
    before = [w.numpy().copy() for w in model.weights]
    bad = tf.tensor_scatter_nd_update(sals, [[0, 1]], [np.nan])
    with pytest.raises(NonFiniteLossError, match=r"step 1 .*ETA=.*THETA="):
        trainer.train_step((inputs, labels, indices, bad))
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_trainer_refuses_a_plain_model():
    model = tiny_model(adapler=False)
    with pytest.raises(ValueError, match="to_AdapLeR"):
        AdapLeRTrainer(model, *make_optimizers(10))


def test_cp_optimizer_trains_the_predictors_apart_from_the_backbone():
    model = tiny_model(seed=12, num_layers=2, num_labels=2)
    trainer = AdapLeRTrainer(model, *make_optimizers(10, learning_rate=0.0, warmup_ratio=0.0),
                             cp_optimizer=make_optimizer(10, 1e-2, warmup_ratio=0.0))
    predictor = model.bert.encoder.contribution_predictors[0].pre_head.kernel
    backbone = model.bert.encoder.layer[0].attention.self_attention.query.kernel
    cp_before, backbone_before = predictor.numpy().copy(), backbone.numpy().copy()
    trainer.train_step(synthetic_batch(8, seed=0))
    np.testing.assert_array_equal(backbone.numpy(), backbone_before)
    assert np.abs(predictor.numpy() - cp_before).max() > 1e-3


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_distillation_loss_is_the_tempered_kl_times_t_squared(temperature):
    rng = np.random.RandomState(0)
    teacher, student = rng.normal(0, 3, size=(5, 3)), rng.normal(0, 3, size=(5, 3))
    p, log_p, log_q = (np.exp(log_softmax(teacher / temperature)), log_softmax(teacher / temperature),
                       log_softmax(student / temperature))
    expected = temperature**2 * np.mean(np.sum(p * (log_p - log_q), axis=-1))
    loss = distillation_loss(tf.constant(teacher), tf.constant(student, tf.float32), temperature)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(distillation_loss(tf.constant(student), tf.constant(student, tf.float32), temperature)) == (
        pytest.approx(0.0, abs=1e-6))


def test_distillation_loss_of_a_regression_output_is_the_squared_error():
    loss = distillation_loss(tf.constant([[1.0], [3.0]]), tf.constant([[2.0], [0.0]]), 2.0)
    assert float(loss) == pytest.approx((1.0 + 9.0) / 2)


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_distilling_mixes_ce_with_kd_against_the_teacher_rows_of_the_batch(weight):
    teacher = np.random.RandomState(1).normal(0, 2, size=(6, 2)).astype(np.float32)
    objective = TaskObjective(2, teacher_logits=teacher, distill_weight=weight, temperature=2.0)
    logits, labels, indices = tf.constant([[0.5, -1.0], [2.0, 1.0]]), tf.constant([1, 0]), tf.constant([4, 1])
    ce = float(task_loss(labels, logits, tf.ones([2])))
    kd = float(distillation_loss(tf.constant(teacher[[4, 1]]), logits, 2.0))
    assert float(objective(labels, logits, indices)) == pytest.approx((1 - weight) * ce + weight * kd)


def test_full_distillation_ignores_the_labels():
    inputs, labels, indices, sals = synthetic_batch(8, seed=0)
    teacher = np.random.RandomState(2).normal(0, 2, size=(8, 2)).astype(np.float32)
    trained = []
    for batch_labels in (labels, 1 - labels):
        model = tiny_model(seed=14, num_layers=2, num_labels=2)
        initial = [w.numpy().copy() for w in model.trainable_weights]
        trainer = AdapLeRTrainer(model, *make_optimizers(10, learning_rate=1e-3, warmup_ratio=0.0),
                                 objective=TaskObjective(2, teacher_logits=teacher, distill_weight=1.0))
        trainer.train_step((inputs, batch_labels, indices, sals))
        trained.append([w.numpy() for w in model.trainable_weights])
    assert max(np.abs(w - v).max() for w, v in zip(trained[0], initial)) > 1e-4
    for first, second in zip(*trained):
        np.testing.assert_allclose(first, second, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"distill_weight": 0.5}, "distill_weight needs teacher_logits"),
    ({"teacher_logits": np.zeros((8, 2)), "distill_weight": 1.5}, r"distill_weight must be in \[0, 1\]"),
    ({"temperature": 0.0}, "temperature must be positive"),
])
def test_the_task_objective_refuses_settings_it_cannot_compute(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TaskObjective(2, **kwargs)
