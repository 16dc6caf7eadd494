"""The equivalence contract (docs/method.md, section 1): hard removal == soft removal at lambda=1e20 == per example."""

from pipeline.distribution import _gathering_step, gathered_batches
from pipeline.evaluation import predict
from tests.tiny import assert_batch_equals_each_alone, padded_batch, row, tiny_config, tiny_model, unpadded_split

import numpy as np
import pytest
import tensorflow as tf
import transformers

LENGTHS = [12, 7, 4, 10]
CASES = [(seed, layers) for seed in (0, 1, 2) for layers in (2, 3)]


def _removing_model(seed, layers):
    model = tiny_model(seed=seed, num_layers=layers)
    model.bert.encoder._lambda.assign(1e20)
    model.bert.encoder.ETA.assign(np.linspace(0.9, 1.0, layers).astype("float32"))
    return model


@pytest.mark.parametrize("seed,layers", CASES)
def test_hard_removal_equals_soft_removal_at_infinite_lambda(seed, layers):
    model = _removing_model(seed, layers)
    inputs = padded_batch(LENGTHS, seed=seed)
    soft = model(inputs)
    hard = model(inputs, lr_mode=True)
    np.testing.assert_allclose(hard.logits.numpy(), soft.logits.numpy(), atol=1e-4)
    for soft_len, hard_len in zip(soft.lengths, hard.lengths):
        np.testing.assert_allclose(hard_len.numpy(), soft_len.numpy(), atol=1e-3)


@pytest.mark.parametrize("seed,layers", CASES)
def test_tokens_are_actually_removed(seed, layers):
    model = _removing_model(seed, layers)
    inputs = padded_batch(LENGTHS, seed=seed)
    last = model(inputs, lr_mode=True).lengths[-1].numpy()
    assert (last < np.array(LENGTHS)).any()


@pytest.mark.parametrize("seed,layers", CASES)
def test_padded_batch_equals_each_example_alone(seed, layers):
    model = _removing_model(seed, layers)
    assert_batch_equals_each_alone(model, padded_batch(LENGTHS, seq_len=16, seed=seed), LENGTHS,
                                   lambda output: output.lengths, atol=1e-4)


@pytest.mark.parametrize("layers", [2, 3])
def test_eta_near_zero_keeps_every_token_and_matches_plain_transformers(layers):
    model = tiny_model(seed=3, num_layers=layers)
    model.bert.encoder.ETA.assign(np.full(layers, 1e-6, np.float32))
    model.bert.encoder._lambda.assign(1e20)
    plain = transformers.TFBertForSequenceClassification(tiny_config(num_layers=layers))
    plain.build_in_name_scope()
    own = {w.name.split("/", 1)[1]: w for w in model.weights}
    for weight in plain.weights:
        weight.assign(own[weight.name.split("/", 1)[1]])
    inputs = padded_batch(LENGTHS, seed=3)
    expected = plain(inputs).logits.numpy()
    hard = model(inputs, lr_mode=True)
    np.testing.assert_allclose(hard.logits.numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(model(inputs).logits.numpy(), expected, atol=1e-4)
    for lengths in hard.lengths:
        np.testing.assert_array_equal(lengths.numpy(), LENGTHS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cls_is_never_dropped_even_with_an_impossible_threshold(seed):
    model = tiny_model(seed=seed, num_layers=3)
    inputs = padded_batch(LENGTHS, seed=seed)
    out = model(inputs, lr_mode=True, custom_deltas=[2.0, 2.0, 2.0], output_explanations=True)
    for lengths in out.lengths:
        np.testing.assert_array_equal(lengths.numpy(), np.ones(len(LENGTHS)))
    assert np.isfinite(out.logits.numpy()).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lengths_never_grow_and_count_tokens_entering_each_layer(seed):
    model = _removing_model(seed, 3)
    inputs = padded_batch(LENGTHS, seed=seed)
    entering = []
    for layer in model.bert.encoder.layer:
        original = layer.call

        def recording(*args, _original=original, **kwargs):
            entering.append(kwargs["attention_mask"][:, 0, 0, :])
            return _original(*args, **kwargs)

        layer.call = recording
    out = model(inputs, lr_mode=True)
    previous = np.array(LENGTHS, np.float32)
    for lengths, bias in zip(out.lengths, entering):
        counted = (bias.numpy() > -1.0).sum(axis=-1)
        np.testing.assert_array_equal(lengths.numpy(), counted)
        assert bias.shape[-1] == counted.max()
        assert (lengths.numpy() <= previous).all()
        previous = lengths.numpy()


def test_explanations_sit_at_original_positions_in_both_modes():
    model = _removing_model(0, 2)
    inputs = padded_batch(LENGTHS, seq_len=14, seed=0)
    soft = model(inputs, output_explanations=True)
    hard = model(inputs, lr_mode=True, output_explanations=True)
    for soft_exp, hard_exp in zip(soft.explanations, hard.explanations):
        assert hard_exp.shape == (len(LENGTHS), 14)
        np.testing.assert_allclose(hard_exp.numpy(), soft_exp.numpy(), atol=1e-5)
        np.testing.assert_allclose(hard_exp.numpy().sum(-1), 1.0, atol=1e-5)


def test_graph_mode_hard_removal_matches_eager():
    model = _removing_model(1, 2)
    inputs = padded_batch(LENGTHS, seed=1)
    spec = {k: tf.TensorSpec([None, None], tf.int32) for k in inputs}
    graph = tf.function(lambda x: model(x, lr_mode=True).logits, input_signature=[spec])
    np.testing.assert_allclose(graph(inputs).numpy(), model(inputs, lr_mode=True).logits.numpy(), atol=1e-5)


def test_split_prediction_goes_shortest_first_and_returns_each_example_alone_in_split_order():
    model = _removing_model(0, 2)
    lengths = [9, 3, 14, 5, 3, 11, 7]
    inputs = padded_batch(lengths, seed=4)
    encoded = unpadded_split(inputs, lengths)

    def live(inputs, labels, indices):
        return {"length": tf.reduce_sum(inputs["attention_mask"], axis=1)}

    visited = np.concatenate([batch["length"] for batch in gathered_batches(tf.distribute.get_strategy(), live,
                                                                              encoded, 3, "lengths")])
    assert visited.tolist() == sorted(lengths)
    predicted = predict(model, encoded, 3, lr_mode=True)
    for index, length in enumerate(lengths):
        alone = model(row(inputs, index, length), lr_mode=True)
        np.testing.assert_allclose(predicted["logits"][index], alone.logits.numpy()[0], atol=1e-4)
        assert predicted["lengths"][index].tolist() == [n.numpy()[0] for n in alone.lengths]


def test_a_split_of_many_lengths_and_a_smaller_last_batch_is_gathered_with_one_trace():
    lengths = [9, 3, 14, 5, 3, 11, 7]
    encoded = unpadded_split(padded_batch(lengths, seed=4), lengths)

    def live(inputs, labels, indices):
        return {"length": tf.reduce_sum(inputs["attention_mask"], axis=1)}

    strategy = tf.distribute.get_strategy()
    assert len(list(gathered_batches(strategy, live, encoded, 3, "lengths"))) == 3
    assert _gathering_step(strategy, live).experimental_get_tracing_count() == 1


def test_prediction_before_and_after_to_adapler_runs_each_model_as_it_is():
    model = tiny_model(seed=3, adapler=False, num_layers=2)
    lengths = [6, 4, 9]
    inputs = padded_batch(lengths, seed=5)
    encoded = unpadded_split(inputs, lengths)
    assert predict(model, encoded, 2)["lengths"] is None
    model.to_AdapLeR()
    model.bert.encoder._lambda.assign(1e4)
    model.bert.encoder.ETA.assign([0.9, 0.9])
    soft = predict(model, encoded, 2)
    for index, length in enumerate(lengths):
        alone = model(row(inputs, index, length))
        np.testing.assert_allclose(soft["logits"][index], alone.logits.numpy()[0], atol=1e-4)
    assert soft["lengths"].shape == (3, 2) and soft["lengths"][:, 1].min() < max(lengths)
