"""Fine-tuning with hard removal and frozen removal (benchmarks/continued_finetuning.py's step), its table, and
scoring at a scaled ETA (one scale, or one per layer)."""

from analysis.continued_training import table
from models.adapler_training import split_contribution_predictor_variables
from models.finetuning import FineTuningTrainer
from models.flops import adapler_flops, bert_flops
from models.losses import TaskObjective
from pipeline.evaluation import layer_scales, predict, scale_label, score_with_removal
from tasks.registry import get_task
from tests.tiny import padded_batch, tiny_model, unpadded_split

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [9, 5, 12, 7]


def _model(seed=0):
    model = tiny_model(seed=seed, num_labels=2, num_layers=2)
    model.bert.encoder.ETA.assign([0.9, 0.9])
    return model


def test_split_contribution_predictor_variables_leaves_out_exactly_the_contribution_predictors():
    model = _model()
    others, cps = split_contribution_predictor_variables(model)
    kept = {id(v) for v in others}
    predictors = {id(v) for cp in model.bert.encoder.contribution_predictors for v in cp.trainable_variables}
    assert predictors and not kept & predictors and {id(v) for v in cps} == predictors
    assert kept | predictors == {id(v) for v in model.trainable_variables}
    assert any("classifier" in v.name for v in others)


@pytest.mark.parametrize("weight", [0.0, 0.4, 1.0])
def test_hard_removal_step_trains_the_backbone_on_the_mixed_objective_and_freezes_removal(weight):
    model = _model()
    inputs = padded_batch(LENGTHS, seed=1)
    labels = tf.constant([0, 1, 1, 0])
    indices = tf.constant([3, 0, 2, 1])
    teacher = np.random.RandomState(0).normal(size=(4, 2)).astype("float32")
    logits = model(inputs, lr_mode=True).logits.numpy()
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.mean(log_probs[np.arange(4), labels.numpy()])
    t_logits = teacher[indices.numpy()] / 2.0
    t_log = t_logits - np.log(np.exp(t_logits).sum(-1, keepdims=True))
    s_log = logits / 2.0 - np.log(np.exp(logits / 2.0).sum(-1, keepdims=True))
    kd = 4.0 * np.mean(np.sum(np.exp(t_log) * (t_log - s_log), axis=-1))
    encoder = model.bert.encoder
    frozen = [v.numpy().copy() for cp in encoder.contribution_predictors for v in cp.trainable_variables]
    frozen += [encoder.ETA.numpy().copy(), encoder.THETA.numpy().copy()]
    classifier = model.classifier.kernel.numpy().copy()
    variables = split_contribution_predictor_variables(model)[0]
    objective = TaskObjective(2, teacher_logits=teacher, distill_weight=weight, temperature=2.0)
    trainer = FineTuningTrainer(model, tf.keras.optimizers.SGD(0.1), variables, objective, lr_mode=True)

    loss = float(trainer.train_step((inputs, labels, indices))["loss"])

    np.testing.assert_allclose(loss, (1 - weight) * ce + weight * kd, rtol=1e-4)
    after = [v.numpy() for cp in encoder.contribution_predictors for v in cp.trainable_variables]
    after += [encoder.ETA.numpy(), encoder.THETA.numpy()]
    for before, now in zip(frozen, after):
        np.testing.assert_array_equal(before, now)
    assert not np.allclose(classifier, model.classifier.kernel.numpy())


@pytest.mark.parametrize("scale, scaled", [(0.5, [0.45, 0.45]), (np.float32([0.5, 1.5]), [0.45, 1.35])])
def test_score_with_removal_scores_at_the_scaled_eta_and_restores_it(scale, scaled):
    model = _model(seed=2)
    inputs = padded_batch(LENGTHS, seed=3)
    encoded = unpadded_split(inputs, LENGTHS)
    encoded.labels[:] = [0, 1, 1, 0]
    task = get_task("sst2")
    first, speedup = score_with_removal(model, task, encoded, 2, scale=scale)
    np.testing.assert_array_equal(model.bert.encoder.ETA.numpy(), np.float32([0.9, 0.9]))
    model.bert.encoder.ETA.assign(scaled)
    outputs = predict(model, encoded, 2, lr_mode=True)
    assert first == np.mean(np.argmax(outputs["logits"], -1) == encoded.labels)
    lengths = np.array(LENGTHS)
    expected = bert_flops(model.config, lengths, 2).sum() / adapler_flops(
        model.config, outputs["lengths"], 2, input_length=lengths).sum()
    assert speedup == pytest.approx(expected)
    assert outputs["lengths"][:, -1].max() < max(LENGTHS)  # tokens were removed, so the speedup is above 1
    assert speedup > 1


@pytest.mark.parametrize("layers, expected", [(6, [0.8, 0.8, 0.8, 1.2, 1.2, 1.2]), (5, [0.8, 0.8, 1.2, 1.2, 1.2]),
                                               (2, [0.8, 1.2])])
def test_layer_scales_multiply_the_later_half_of_the_layers_by_the_factor(layers, expected):
    np.testing.assert_allclose(layer_scales(0.8, 1.5, layers), expected, rtol=1e-6)
    np.testing.assert_array_equal(layer_scales(0.8, 1, layers), np.float32([0.8] * layers))


@pytest.mark.parametrize("scale, label", [(0.75, "x0.75"), (np.float32([0.5, 0.5]), "x0.5"),
                                          (np.float32([0.5, 1.25]), "x0.5:1.25")])
def test_scale_label_names_one_scale_or_one_per_layer(scale, label):
    assert scale_label(scale) == label


def test_table_gives_the_control_and_every_scale_per_epoch():
    def points(score):
        return [{"eta_scale": 0.9, "score": score, "flops_speedup": 1.7},
                {"eta_scale": 1.0, "score": score - 0.01, "flops_speedup": 1.9}]

    result = {"task": "sst2", "max_length": 64, "command": "python c.py", "machine": "m", "date": "d",
              "plain_start": 0.8257, "adapler_start": points(0.81),
              "plain": [{"epoch": 1, "score": 0.844}], "adapler": [{"epoch": 1, "points": points(0.83)}]}
    lines = table(result).splitlines()
    assert "| epoch | fine-tuned, nothing removed | AdapLeR, ETA x0.9 | AdapLeR, ETA x1 |" in lines
    assert "| 0 | 0.8257 | 0.8100 at 1.70x | 0.8000 at 1.90x |" in lines
    assert "| 1 | 0.8440 | 0.8300 at 1.70x | 0.8200 at 1.90x |" in lines
