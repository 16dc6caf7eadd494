"""The shared Adam schedule and how far it can move a weight: what bounds PoWER-BERT's learned retention."""

import math

from models.optimizers import largest_move, make_optimizer
from pipeline import recipes
from tasks.registry import get_task, load_split

import numpy as np
import pytest
import tensorflow as tf


def warmup_then_decay(steps, peak, warmup_ratio):
    """The learning rate of each update, written out: linear warm-up from 0, then linear decay to 0."""
    warmup = int(warmup_ratio * steps)
    return [peak * t / warmup if t < warmup else peak * (1 - (t - warmup) / (steps - warmup)) for t in range(steps)]


@pytest.mark.parametrize("steps,peak,warmup_ratio", [(6, 0.2, 0.06), (100, 1e-2, 0.06), (250, 1e-2, 0.1),
                                                     (40, 3e-2, 0.0)])
def test_largest_move_sums_the_schedules_learning_rates(steps, peak, warmup_ratio):
    assert largest_move(steps, peak, warmup_ratio) == pytest.approx(sum(warmup_then_decay(steps, peak, warmup_ratio)),
                                                                    rel=1e-5)


@pytest.mark.parametrize("gradient", [3e-4, 3.0])
def test_adam_under_a_constant_gradient_moves_a_weight_by_the_largest_move_whatever_its_size(gradient):
    steps, peak = 100, 1e-2
    optimizer = make_optimizer(steps, peak)
    weight = tf.Variable([1.0, 1.0])
    for _ in range(steps):
        optimizer.apply_gradients([(tf.constant([gradient, gradient]), weight)])
    moved = 1.0 - weight.numpy()
    np.testing.assert_allclose(moved, largest_move(steps, peak), rtol=0.02)
    assert largest_move(steps, peak) == pytest.approx(0.5, abs=0.01)  # half the peak times the updates


@pytest.mark.parametrize("name", ["sst2_compare", "movies_compare"])
def test_the_comparison_recipes_let_a_power_bert_retention_weight_reach_zero(data_dir, name):
    recipe = recipes.RECIPES[name]
    flags = recipe.section("baseline", "power_bert")
    train = len(load_split(get_task(flags["TASK"]), "train", data_dir))
    updates = math.ceil(min(train, flags.get("TRAIN_EXAMPLES") or train) / flags["BATCH_SIZE"]) * flags["SOFT_EPOCHS"]
    assert largest_move(updates, flags["PRUNER_LEARNING_RATE"]) >= 1.0
