"""An AdapLeR model rebuilt from its config: `save_pretrained` / `from_pretrained`, and the CP layer's config."""

from models.contribution_predictor import ContributionPredictor
from models.modeling_tf_bert import TFBertForSequenceClassification
from tests.tiny import padded_batch, tiny_model

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [12, 5, 9]


@pytest.mark.parametrize("layers", [2, 3])
def test_from_pretrained_rebuilds_the_predictors_eta_and_theta(tmp_path, layers):
    model = tiny_model(seed=3, num_layers=layers)
    model.bert.encoder.ETA.assign(np.linspace(0.4, 0.9, layers).astype("float32"))
    model.bert.encoder.THETA.assign(np.linspace(1.2, 1.6, layers - 1).astype("float32"))
    model.save_pretrained(str(tmp_path))
    restored = TFBertForSequenceClassification.from_pretrained(str(tmp_path))
    assert restored.is_adapler and restored.config.adapler_cp_units == 32
    np.testing.assert_array_equal(restored.bert.encoder.ETA.numpy(), model.bert.encoder.ETA.numpy())
    np.testing.assert_array_equal(restored.bert.encoder.THETA.numpy(), model.bert.encoder.THETA.numpy())
    inputs = padded_batch(LENGTHS, seed=4)
    expected, got = model(inputs, lr_mode=True), restored(inputs, lr_mode=True)
    np.testing.assert_allclose(got.logits.numpy(), expected.logits.numpy(), atol=1e-6)
    assert min(expected.lengths[-1].numpy()) < max(LENGTHS)  # tokens were removed, so the lengths say something
    for mine, theirs in zip(expected.lengths, got.lengths):
        np.testing.assert_array_equal(theirs.numpy(), mine.numpy())


def test_a_plain_model_stays_plain_through_save_pretrained(tmp_path):
    model = tiny_model(seed=5, adapler=False)
    model.save_pretrained(str(tmp_path))
    restored = TFBertForSequenceClassification.from_pretrained(str(tmp_path))
    assert not restored.is_adapler
    inputs = padded_batch(LENGTHS, seed=6)
    np.testing.assert_allclose(restored(inputs).logits.numpy(), model(inputs).logits.numpy(), atol=1e-6)


@pytest.mark.parametrize("units, activation", [(32, "gelu"), (8, "relu")])
def test_a_contribution_predictor_round_trips_through_its_config(units, activation):
    predictor = ContributionPredictor(16, hidden_act=activation, initializer_range=0.05, units=units, name="cp")
    predictor.build(None)
    config = predictor.get_config()
    rebuilt = ContributionPredictor.from_config(config)
    rebuilt.build(None)
    assert rebuilt.get_config() == config
    rebuilt.set_weights(predictor.get_weights())
    hidden = tf.random.stateless_normal([2, 7, 16], seed=[1, 2])
    mask = tf.constant([[0, 1, 1, 1, 1, 0, 0], [0, 1, 1, 1, 1, 1, 1]], tf.float32)
    np.testing.assert_allclose(rebuilt(hidden, mask).numpy(), predictor(hidden, mask).numpy(), atol=1e-7)
