"""The shared training step (models/trainer.py) through the fine-tuning trainer: its loss, accumulation, the
non-finite guard, parameter groups and what a resumable run saves."""

from models.finetuning import FineTuningTrainer
from models.losses import TaskObjective
from models.trainer import NonFiniteLossError, ParameterGroup, Trainer
from tests.tiny import padded_batch, tiny_model

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [9, 5, 12, 7]


def element(seed=0, lengths=LENGTHS):
    inputs = padded_batch(lengths, seed=seed)
    labels = tf.constant(np.random.RandomState(seed).randint(0, 3, size=len(lengths)), tf.int32)
    return inputs, labels, tf.range(len(lengths), dtype=tf.int64)


def halves(batch):
    """The two halves of a batch, each cut to its own longest example."""
    inputs, labels, indices = batch
    parts = []
    for rows in (slice(0, 2), slice(2, 4)):
        width = int(tf.reduce_max(tf.reduce_sum(inputs["attention_mask"][rows], axis=1)))
        parts.append(({key: value[rows, :width] for key, value in inputs.items()}, labels[rows], indices[rows]))
    return parts


def test_the_step_reports_the_cross_entropy_of_its_batch():
    model = tiny_model(adapler=False)
    inputs, labels, indices = element()
    logits = model(inputs).logits.numpy()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(4), labels.numpy()])
    trainer = FineTuningTrainer(model, tf.keras.optimizers.SGD(0.0))
    assert trainer.train_step((inputs, labels, indices))["loss"] == pytest.approx(expected, rel=1e-5)


def test_two_accumulated_halves_update_as_one_step_on_the_whole_batch():
    whole, split = tiny_model(seed=1, adapler=False), tiny_model(seed=1, adapler=False)
    batch = element(seed=2)
    FineTuningTrainer(whole, tf.keras.optimizers.SGD(0.5)).train_step(batch)
    trainer = FineTuningTrainer(split, tf.keras.optimizers.SGD(0.5), acc_steps=2)
    first, second = halves(batch)
    before = split.classifier.kernel.numpy().copy()
    trainer.train_step(first)
    np.testing.assert_array_equal(split.classifier.kernel.numpy(), before)  # nothing applied after one of two
    trainer.train_step(second)
    assert np.abs(split.classifier.kernel.numpy() - before).max() > 1e-4
    for one, two in zip(whole.trainable_variables, split.trainable_variables):
        np.testing.assert_allclose(one.numpy(), two.numpy(), atol=1e-6, err_msg=one.name)


def test_a_non_finite_loss_raises_names_the_step_and_applies_nothing():
    model = tiny_model(seed=3, adapler=False)
    teacher = np.full((4, 3), np.nan, np.float32)
    trainer = FineTuningTrainer(model, tf.keras.optimizers.SGD(0.5),
                                objective=TaskObjective(3, teacher_logits=teacher, distill_weight=0.5))
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(NonFiniteLossError, match=r"Non-finite loss at step 1 \(loss=nan\)\. No update was applied"):
        trainer.train_step(element())
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)
    assert all(not np.any(a.numpy()) for a in trainer.accumulators)


def test_only_the_variables_given_are_trained():
    model = tiny_model(seed=4, adapler=False)
    trainer = FineTuningTrainer(model, tf.keras.optimizers.SGD(0.5), variables=[model.classifier.kernel])
    embeddings = model.bert.embeddings.weight.numpy().copy()
    kernel = model.classifier.kernel.numpy().copy()
    trainer.train_step(element())
    np.testing.assert_array_equal(model.bert.embeddings.weight.numpy(), embeddings)
    assert np.abs(model.classifier.kernel.numpy() - kernel).max() > 1e-4


class _TwoObjectives(Trainer):
    """Cross-entropy for the classifier, the squared logits for the pooler: each group its own gradient."""

    def losses(self, element):
        inputs, labels, indices = element[:3]
        logits = self.model(inputs, training=True).logits
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        return {"ce": ce, "size": tf.reduce_mean(tf.square(logits))}, {"extra": ce * 2}


def test_each_group_follows_the_gradient_of_its_own_objective():
    model = tiny_model(seed=5, adapler=False)
    batch = element(seed=6)
    classifier, pooler = [model.classifier.kernel], [model.bert.pooler.dense.kernel]
    with tf.GradientTape(persistent=True) as tape:
        logits = model(batch[0], training=True).logits
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch[1], logits=logits))
        size = tf.reduce_mean(tf.square(logits))
    expected = [v.numpy() - 0.1 * g.numpy() for v, g in zip(classifier + pooler,
                                                             tape.gradient(ce, classifier) + tape.gradient(size, pooler))]
    trainer = _TwoObjectives(model, [ParameterGroup("a", "ce", classifier, tf.keras.optimizers.SGD(0.1)),
                                     ParameterGroup("b", "size", pooler, tf.keras.optimizers.SGD(0.1))])
    metrics = trainer.train_step(batch)
    assert metrics["extra"] == pytest.approx(2 * metrics["ce"]) and set(metrics) == {"ce", "size", "extra"}
    for variable, value in zip(classifier + pooler, expected):
        np.testing.assert_allclose(variable.numpy(), value, atol=1e-6)
    assert set(trainer.checkpoint_objects()) == {"model", "accumulators", "steps", "a", "b"}


def test_a_variable_in_two_groups_is_refused():
    model = tiny_model(seed=7, adapler=False)
    kernel = [model.classifier.kernel]
    with pytest.raises(ValueError, match="more than one parameter group"):
        _TwoObjectives(model, [ParameterGroup("a", "ce", kernel, tf.keras.optimizers.SGD(0.1)),
                               ParameterGroup("b", "size", kernel, tf.keras.optimizers.SGD(0.1))])
