"""`.h5` round trips of AdapLeR state and clear errors for bad input."""

from models.checkpoints import CheckpointError, weights_digest
from tests.tiny import padded_batch, tiny_model

import numpy as np
import pytest
import tensorflow as tf

LENGTHS = [8, 5]


@pytest.mark.parametrize("layers", [2, 3])
def test_save_and_load_round_trip_every_adapler_variable(tmp_path, layers):
    model = tiny_model(seed=1, num_layers=layers)
    model.bert.encoder.ETA.assign(np.linspace(0.3, 0.7, layers).astype("float32"))
    model.bert.encoder.THETA.assign(np.linspace(1.5, 2.0, layers - 1).astype("float32"))
    model.bert.encoder._lambda.assign(123.0)
    path = str(tmp_path / "adapler.h5")
    model.save_weights(path)
    restored = tiny_model(seed=2, num_layers=layers)
    restored.load_weights(path)
    for saved, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    inputs = padded_batch(LENGTHS)
    np.testing.assert_allclose(
        restored(inputs, lr_mode=True).logits.numpy(), model(inputs, lr_mode=True).logits.numpy(), atol=1e-6
    )


def test_fine_tuned_checkpoint_loads_before_conversion(tmp_path):
    plain = tiny_model(seed=1, adapler=False)
    path = str(tmp_path / "plain.h5")
    plain.save_weights(path)
    model = tiny_model(seed=5, adapler=False)
    model.load_weights(path)
    model.to_AdapLeR()
    model.bert.encoder.ETA.assign([1e-6, 1e-6])
    inputs = padded_batch(LENGTHS)
    np.testing.assert_allclose(model(inputs, lr_mode=True).logits.numpy(), plain(inputs).logits.numpy(), atol=1e-5)


def test_adapler_checkpoint_into_a_model_with_another_layer_count(tmp_path):
    path = str(tmp_path / "three.h5")
    tiny_model(num_layers=3).save_weights(path)
    with pytest.raises(CheckpointError, match="has 3 encoder layers; the model has 2"):
        tiny_model(num_layers=2).load_weights(path)


def test_adapler_checkpoint_into_a_plain_model_says_to_convert_first(tmp_path):
    path = str(tmp_path / "adapler.h5")
    tiny_model().save_weights(path)
    with pytest.raises(CheckpointError, match="call model.to_AdapLeR"):
        tiny_model(adapler=False).load_weights(path)


def test_plain_checkpoint_into_an_adapler_model_says_to_load_first(tmp_path):
    path = str(tmp_path / "plain.h5")
    tiny_model(adapler=False).save_weights(path)
    with pytest.raises(CheckpointError, match="load it before calling model.to_AdapLeR"):
        tiny_model().load_weights(path)


def test_the_weights_digest_is_one_per_set_of_weights(tmp_path):
    model = tiny_model(seed=1, adapler=False)
    first, second = str(tmp_path / "first.h5"), str(tmp_path / "second.h5")
    model.save_weights(first)
    model.save_weights(second)
    assert weights_digest(first) == weights_digest(second)
    model.classifier.bias.assign_add([1e-7] * model.classifier.bias.shape[0])  # one weight moved by a float step
    model.save_weights(second)
    assert weights_digest(first) != weights_digest(second)
    with pytest.raises(CheckpointError, match="missing.h5"):
        weights_digest(str(tmp_path / "missing.h5"))


@pytest.mark.parametrize("content", [None, b"not an hdf5 file"])
def test_missing_or_corrupt_checkpoint(tmp_path, content):
    path = tmp_path / "broken.h5"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.h5"):
        tiny_model().load_weights(str(path))


def test_input_longer_than_the_position_table():
    model = tiny_model(max_positions=16)
    with pytest.raises(ValueError, match="20 tokens but the model's position table holds 16"):
        model(padded_batch([20]))


@pytest.mark.parametrize("name", ["attention_mask", "token_type_ids"])
def test_mismatched_input_shapes(name):
    inputs = padded_batch(LENGTHS)
    inputs[name] = inputs[name][:, :3]
    with pytest.raises(ValueError, match=f"{name} has shape"):
        tiny_model()(inputs)


def test_lr_mode_before_conversion():
    with pytest.raises(ValueError, match="to_AdapLeR"):
        tiny_model(adapler=False)(padded_batch(LENGTHS), lr_mode=True)


def test_custom_deltas_of_the_wrong_length():
    with pytest.raises(ValueError, match="custom_deltas has 1 values; the model has 2 layers"):
        tiny_model()(padded_batch(LENGTHS), lr_mode=True, custom_deltas=[0.1])


def test_to_adapler_twice_keeps_one_set_of_predictors():
    model = tiny_model()
    count = len(model.weights)
    model.to_AdapLeR()
    assert len(model.weights) == count
    assert tf.reduce_all(model.bert.encoder.ETA == 0.25)
