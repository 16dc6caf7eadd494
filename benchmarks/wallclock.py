"""Interleaved wall-clock timing of hard-removal inference against the plain model."""

import time

import numpy as np

from pipeline.data import batches
from pipeline.evaluation import compiled_forward, flops_report, predict


def _seconds(function, inputs):
    start = time.perf_counter()
    logits, _ = function(inputs)
    logits.numpy()
    return time.perf_counter() - start


def compare(plain, adapler, encoded, batch_size, repeats=3, limit=None):
    """Times both models on the same batches, alternating calls, and counts their FLOPs.

    Args:
        plain: The fine-tuned model without Contribution Predictors.
        adapler: The AdapLeR model (run with `lr_mode=True`).
        encoded: An `Encoded` split.
        batch_size: Examples per call (1 = latency).
        repeats: Timed calls per batch and model; the median is kept.
        limit: Use only the first `limit` examples.

    Returns:
        Dict with summed median seconds of each model, `measured_speedup`, `flops_speedup`,
        their ratio, examples and batch size.
    """
    if limit:
        encoded = encoded.subset(limit)
    plain_fn, adapler_fn = compiled_forward(plain, False), compiled_forward(adapler, True)
    first = next(batches(encoded, batch_size))[0]
    plain_fn(first), adapler_fn(first)  # trace once each
    plain_time, adapler_time, lengths = 0.0, 0.0, []
    for inputs, _, _ in batches(encoded, batch_size):
        plain_runs, adapler_runs = [], []
        for _ in range(repeats):
            plain_runs.append(_seconds(plain_fn, inputs))
            adapler_runs.append(_seconds(adapler_fn, inputs))
        plain_time += float(np.median(plain_runs))
        adapler_time += float(np.median(adapler_runs))
        lengths.append(adapler_fn(inputs)[1].numpy())
    flops = flops_report(adapler.config, adapler.config.num_labels, encoded.lengths, np.concatenate(lengths))["speedup"]
    measured = plain_time / adapler_time
    return {
        "batch_size": batch_size, "examples": len(encoded), "repeats": repeats,
        "plain_seconds": plain_time, "adapler_seconds": adapler_time,
        "measured_speedup": measured, "flops_speedup": flops, "measured_over_flops": measured / flops,
    }


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
    trained = adapler.bert.encoder.ETA.numpy().copy()
    points = []
    try:
        for scale in scales:
            adapler.bert.encoder.ETA.assign(np.clip(trained * scale, 1e-3, None))
            outputs = predict(adapler, encoded, batch_size, lr_mode=True, description=f"ETA x{scale:g}")
            point = {
                "scale": scale, "eta": adapler.bert.encoder.ETA.numpy().tolist(),
                "score": score_fn(outputs["logits"]),
                "flops_speedup": flops_report(adapler.config, adapler.config.num_labels, encoded.lengths,
                                              outputs["lengths"])["speedup"],
            }
            if timing is not None:
                plain, limit = timing
                point["measured_speedup"] = compare(plain, adapler, encoded, batch_size, repeats=1,
                                                    limit=limit)["measured_speedup"]
            points.append(point)
    finally:
        adapler.bert.encoder.ETA.assign(trained)
    return points
