"""Interleaved wall-clock timing of hard-removal inference against the plain model."""

import time

from pipeline.data import batches
from pipeline.evaluation import compiled_forward, flops_report, predict, scaled_eta

import numpy as np
import tensorflow as tf


def call_seconds(function, *args):
    """Wall-clock seconds of one call, its outputs fetched to the host (LiteRT returns numpy already)."""
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy() if tf.is_tensor(t) else t, function(*args))
    return time.perf_counter() - start


def interleaved_medians(calls, repeats):
    """Median seconds of each `(function, args)` call, taken in turn `repeats` times.

    Round-robin rather than one function after another, so a slow spell on a shared machine
    lands on every call alike instead of bending one of them.

    Args:
        calls: List of `(function, args)`; callers warm them up (trace) first.
        repeats: Timed calls of each.

    Returns:
        List of median seconds, one per call.
    """
    times = [[call_seconds(function, *args) for function, args in calls] for _ in range(repeats)]
    return [float(t) for t in np.median(times, axis=0)]


def curve_lengths(max_length):
    """Lengths a layer-time curve is timed at: powers of two from 8 below `max_length`, and `max_length`."""
    return sorted({n for n in (8, 16, 32, 64, 128, 256, 512) if n < max_length} | {max_length})


def layer_time_curve(model, batch_size, max_length, repeats=10):
    """How one encoder layer's time grows with sequence length on this machine.

    Times the model's first layer (median of `repeats` calls of one length-generic graph,
    interleaved across lengths) at lengths 8, 16, 32, ... and `max_length`. The curve bounds what
    any token-removal method can gain in wall-clock: a layer on n/4 tokens takes more than a
    quarter of the time when short sequences use the cores less well.

    Args:
        model: A `TFBertForSequenceClassification`.
        batch_size: Batch size the layer is timed at.
        max_length: Longest length timed.
        repeats: Timed calls per length.

    Returns:
        `(lengths, seconds)` lists, lengths increasing.
    """
    layer = model.bert.encoder.layer[0]
    run = tf.function(lambda hidden, bias: layer(hidden, bias, None, None, None, None, False)[0],
                      input_signature=[tf.TensorSpec([None, None, model.config.hidden_size]),
                                       tf.TensorSpec([None, 1, 1, None])])
    lengths = curve_lengths(max_length)
    inputs = [(tf.random.normal([batch_size, n, model.config.hidden_size]), tf.zeros([batch_size, 1, 1, n]))
              for n in lengths]
    for hidden, bias in inputs:
        run(hidden, bias)
    return lengths, interleaved_medians([(run, args) for args in inputs], repeats)


def layer_bound_speedup(curve, plain_lengths, adapler_lengths):
    """The speedup AdapLeR would show if only its encoder layers cost time.

    Args:
        curve: `(lengths, seconds)` from `layer_time_curve` (interpolated linearly between points).
        plain_lengths: `[batches]` padded length of each batch for the plain model.
        adapler_lengths: `[batches, L]` length each AdapLeR layer ran at in each batch.

    Returns:
        Predicted plain time over predicted AdapLeR time.
    """
    adapler_lengths = np.asarray(adapler_lengths, np.float64)
    plain = np.interp(np.asarray(plain_lengths, np.float64), *curve) * adapler_lengths.shape[1]
    return float(plain.sum() / np.interp(adapler_lengths, *curve).sum())


def compare(plain, model, encoded, batch_size, repeats=3, limit=None, curve=None, model_encoded=None):
    """Times the plain model and another on the same batches, alternating calls, and counts their FLOPs.

    Args:
        plain: The fine-tuned model.
        model: The faster model: AdapLeR or a pruning model (run with `lr_mode=True`), or a plain one
            (a smaller student, a model of shorter inputs).
        encoded: An `Encoded` split, at the task's maximum length (what the plain model reads).
        batch_size: Examples per call (1 = latency).
        repeats: Timed calls per batch and model; the median is kept.
        limit: Use only the first `limit` examples.
        curve: Optional `layer_time_curve` at this batch size, which adds `layer_bound_speedup`
            and `measured_over_bound` (how much of the layer-time bound the whole model reaches).
        model_encoded: The same examples as `model` reads them, when that differs (truncated inputs).

    Returns:
        Dict with summed median seconds of each model, `measured_speedup`, `flops_speedup`,
        their ratio, examples and batch size.
    """
    model_encoded = model_encoded or encoded
    if limit:
        encoded, model_encoded = encoded.subset(limit), model_encoded.subset(limit)
    plain_fn, model_fn = compiled_forward(plain, False), compiled_forward(model, model.removes_tokens)
    pairs = list(zip(batches(encoded, batch_size), batches(model_encoded, batch_size)))
    plain_fn(pairs[0][0][0]), model_fn(pairs[0][1][0])  # trace once each
    plain_time, model_time, lengths, kept, padded, layer_lengths = 0.0, 0.0, [], [], [], []
    for (inputs, _, _), (model_inputs, _, _) in pairs:
        plain_median, model_median = interleaved_medians([(plain_fn, (inputs,)), (model_fn, (model_inputs,))],
                                                          repeats)
        plain_time += plain_median
        model_time += model_median
        _, entering, leaving = model_fn(model_inputs)
        lengths.append(entering.numpy())
        kept.append(leaving.numpy())
        padded.append(int(inputs["input_ids"].shape[1]))
        layer_lengths.append(lengths[-1].max(axis=0))
    outputs = {"lengths": np.concatenate(lengths), "kept_lengths": np.concatenate(kept)}
    flops = flops_report(model, plain.config.num_labels, encoded.lengths, outputs, baseline_config=plain.config,
                         model_input_lengths=model_encoded.lengths)["speedup"]
    measured = plain_time / model_time
    result = {
        "batch_size": batch_size, "examples": len(encoded), "repeats": repeats,
        "plain_seconds": plain_time, "model_seconds": model_time,
        "measured_speedup": measured, "flops_speedup": flops, "measured_over_flops": measured / flops,
    }
    if curve is not None:
        bound = layer_bound_speedup(curve, padded, layer_lengths)
        result.update(layer_bound_speedup=bound, measured_over_bound=measured / bound, layer_time_curve=curve)
    return result


def eta_sweep(adapler, encoded, batch_size, scales, score_fn, timing=None):
    """Accuracy and speed as ETA is scaled at inference (the speed knob), restoring ETA after.

    Args:
        adapler: The AdapLeR model.
        encoded: Evaluation split.
        batch_size: Examples per call.
        scales: Factors applied to the trained ETA (values above 1 are allowed at inference).
        score_fn: `(logits) -> score` on `encoded`.
        timing: Optional `(plain_model, limit)` to also measure wall-clock speedups.

    Returns:
        One dict per scale with `scale`, `eta`, `score`, `flops_speedup` (and `measured_speedup`).
    """
    points = []
    for scale in scales:
        with scaled_eta(adapler, scale):
            outputs = predict(adapler, encoded, batch_size, lr_mode=True, description=f"ETA x{scale:g}")
            point = {
                "scale": scale, "eta": adapler.bert.encoder.ETA.numpy().tolist(),
                "score": score_fn(outputs["logits"]),
                "flops_speedup": flops_report(adapler, adapler.config.num_labels, encoded.lengths,
                                              outputs)["speedup"],
            }
            if timing is not None:
                plain, limit = timing
                point["measured_speedup"] = compare(plain, adapler, encoded, batch_size, repeats=1,
                                                    limit=limit)["measured_speedup"]
        points.append(point)
    return points
