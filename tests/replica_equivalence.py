"""Single device against MirroredStrategy over 2 logical CPUs, in a process of its own.

Logical devices must be configured before TensorFlow initialises, which the test process has long
done, so tests/test_distribution.py runs this file and reads the JSON it prints: for each case the
largest difference between the two runs and how far the update moved the weights.
"""

import json

from models.adapler_training import AdapLeRTrainer, make_optimizers
from models.optimizers import make_optimizer
from models.saliency import padded_saliency_step
from pipeline.data import Encoded, example_order
from pipeline.distribution import distribute, gathered_batches, split_cpu
from pipeline.evaluation import predict
from tests.tiny import gradient_driven, tiny_model

import numpy as np
import tensorflow as tf

MAX_LENGTH, GLOBAL_BATCH = 16, 4


def split(count=10, seed=0):
    """Random examples of lengths 4..16 ([CLS]=1 ... [SEP]=2), binary labels, random saliencies."""
    rng = np.random.RandomState(seed)
    ids = []
    for length in rng.randint(4, MAX_LENGTH + 1, size=count):
        row = rng.randint(3, 60, size=length).astype(np.int32)
        row[0], row[-1] = 1, 2
        ids.append(row)
    encoded = Encoded(ids, [np.zeros_like(row) for row in ids], rng.randint(0, 2, size=count), MAX_LENGTH)
    saliencies = rng.rand(count, MAX_LENGTH).astype(np.float32)
    return encoded, saliencies


def build(strategy, reference=None):
    with strategy.scope():
        model = tiny_model(seed=3, num_layers=2, num_labels=2)
        if reference is not None:
            model.set_weights(reference.get_weights())
        # No warm-up, so the first update moves the weights.
        optimizers = make_optimizers(20, learning_rate=1e-3, warmup_ratio=0.0, speedup_learning_rate=1e-2)
        cp_optimizer = make_optimizer(20, 1e-2, warmup_ratio=0.0)
    return model, optimizers, cp_optimizer


def train(strategy, model, optimizers, cp_optimizer, encoded, saliencies, acc_steps, steps):
    trainer = AdapLeRTrainer(model, *optimizers, gamma=0.5, phi=0.01, acc_steps=acc_steps, cp_optimizer=cp_optimizer,
                             strategy=strategy)
    trainer.set_lambda(50.0)
    data = distribute(strategy, encoded, GLOBAL_BATCH, example_order(encoded, shuffle_seed=5), rows=saliencies)
    trainer.trace(data.element_spec)
    for step, element in enumerate(data):
        if step == steps:
            break
        trainer.train_step(element)
    return model


def largest_difference(first, second):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second))


def compared_weights(model):
    """The gradient-driven part of every trainable weight (see `tiny.gradient_driven`)."""
    parts = [gradient_driven(variable.name, variable.numpy()) for variable in model.trainable_variables]
    return [part for part in parts if part is not None]


def update_case(mirrored, acc_steps, steps, count=10):
    """An AdapLeR update on the same global batches on one device and on two replicas."""
    encoded, saliencies = split(count)
    single = build(tf.distribute.get_strategy())
    start, start_eta = compared_weights(single[0]), single[0].bert.encoder.ETA.numpy()
    replicated = build(mirrored, reference=single[0])
    train(tf.distribute.get_strategy(), *single, encoded, saliencies, acc_steps, steps)
    train(mirrored, *replicated, encoded, saliencies, acc_steps, steps)
    one, two = single[0], replicated[0]
    return {
        "weights": largest_difference(compared_weights(one), compared_weights(two)),
        "eta": float(np.max(np.abs(one.bert.encoder.ETA.numpy() - two.bert.encoder.ETA.numpy()))),
        "theta": float(np.max(np.abs(one.bert.encoder.THETA.numpy() - two.bert.encoder.THETA.numpy()))),
        "moved": largest_difference(start, compared_weights(one)),
        "eta_moved": float(np.max(np.abs(start_eta - one.bert.encoder.ETA.numpy()))),
    }


def inference_case(mirrored):
    """Saliency rows and hard-removal predictions, gathered from two replicas, against one device."""
    encoded, _ = split(count=11, seed=1)
    single, _, _ = build(tf.distribute.get_strategy())
    replicated, _, _ = build(mirrored, reference=single)

    def saliencies(model, strategy):
        out = np.zeros((len(encoded), MAX_LENGTH), np.float32)
        for batch in gathered_batches(strategy, padded_saliency_step(model, MAX_LENGTH), encoded, GLOBAL_BATCH, "s"):
            out[batch["index"]] = batch["saliency"]
        return out

    one = predict(single, encoded, GLOBAL_BATCH, lr_mode=True)
    two = predict(replicated, encoded, GLOBAL_BATCH, lr_mode=True, strategy=mirrored)
    single_saliency = saliencies(single, tf.distribute.get_strategy())
    return {
        "saliency": float(np.max(np.abs(single_saliency - saliencies(replicated, mirrored)))),
        "saliency_scale": float(np.max(single_saliency)),
        "logits": float(np.max(np.abs(one["logits"] - two["logits"]))),
        "lengths_equal": bool(np.array_equal(one["lengths"], two["lengths"])),
        "removed": float(one["lengths"][:, -1].mean() < encoded.lengths.mean()),
    }


def main():
    # Logical devices must be configured before TensorFlow initialises.
    split_cpu(2)
    tf.config.experimental.enable_op_determinism()
    mirrored = tf.distribute.MirroredStrategy([device.name for device in tf.config.list_logical_devices("CPU")])
    result = {
        "replicas": mirrored.num_replicas_in_sync,
        # 10 examples in global batches of 4: the third step leaves the second replica empty.
        "acc1": update_case(mirrored, acc_steps=1, steps=1),
        "acc2": update_case(mirrored, acc_steps=2, steps=2),
        "epoch": update_case(mirrored, acc_steps=1, steps=3),
        "inference": inference_case(mirrored),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
