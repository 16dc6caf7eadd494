"""Latency and throughput of the plain model and of AdapLeR in each serving runtime.

    python benchmarks/serving_latency.py --RECIPE=quickstart --DATA_DIR=../shared/data --TIMING_EXAMPLES=200 \
        --TIMING_REPEATS=5
    python benchmarks/serving_latency.py --RECIPE=movies_512 --DIRECTORY=benchmarks/work512 --TIMING_EXAMPLES=50

Runtimes (--RUNTIMES):

- `graph`: TensorFlow's graph in this process (the pipeline's compiled forward).
- `saved_model`: the exported SavedModel loaded back (`serving_ids`).
- `litert`: the LiteRT file in the `ai-edge-litert` interpreter (XNNPACK, --THREADS threads).
- `litert_layers`: one LiteRT graph per layer, the token drop between them (batch 1 only).
- `onnxruntime`: the ONNX file (`serving/onnx_export.py`) in ONNX Runtime, fp32.
- `onnxruntime_int8`: the same file with dynamically quantised int8 weights.
- `onnxruntime_tf2onnx`: fp32, tf2onnx's graph of the Keras layers as they are (without
  `serving.onnx_graph.onnx_friendly`): what the export gains.
- `onnxruntime_layers`, `onnxruntime_layers_int8`: one ONNX Runtime session per layer, the token drop
  between them in NumPy (`serving.onnx_runtime.LayerwiseOnnx`, batch 1 only), fp32 and int8.

What is measured:

- **Batch 1.** The first --TIMING_EXAMPLES dev examples at batch 1, one runtime after another, the
  two models' calls interleaved (the median of --TIMING_REPEATS calls each): p50/p95 per example, and
  the speedup as a ratio of totals.
- **Batched.** Every dev example in batches of --TIMING_BATCH_SIZE, in split order and padded per
  batch (not grouped by length): examples/s of both models, the speedup, and each runtime's dev score.
- **Reference points.** The FLOPs speedup, and each runtime's layer-time curve (one encoder layer at
  batch 1, 8..max length), which says how much of the FLOPs gain that runtime can turn into time.

Writes `serving_<task>_<max length>.json` and `.md` under --RESULTS_DIR.
"""

import contextlib
import os
import sys
import tempfile

from analysis.timing import curve_lengths, interleaved_medians
from pipeline import cli
from pipeline.atomic import write_json, write_text
from pipeline.data import batches
from pipeline.evaluation import compiled_forward, flops_report, predict, score
from pipeline.flags import FLAGS, define_adapler_name_flags, define_common_flags, define_timing_flags
from pipeline.loading import best_finetuned, load_trained
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today
from serving.layerwise import LayerwiseLiteRT, export_layerwise
from serving.litert import LiteRTModel, convert
from serving.module import ServingModule, save
from serving.onnx_export import convert_function, export_layerwise_onnx, export_onnx, quantize_int8
from serving.onnx_graph import onnx_friendly
from serving.onnx_runtime import LayerwiseOnnx, OnnxClassifier, cpu_session
from serving.tokenization import InGraphTokenizer

import numpy as np
import tensorflow as tf
from absl import flags
from ai_edge_litert.interpreter import Interpreter

# ONNX Runtime sessions apply ONNX Runtime's graph optimisations (ORT_ENABLE_ALL) to both models when they load.
# Its transformer optimizer (onnxruntime.transformers) is not applied: it fuses no attention in our graphs and did
# not make them faster (docs/serving.md).
RUNTIMES = ("graph", "saved_model", "litert", "litert_layers", "onnxruntime", "onnxruntime_int8", "onnxruntime_tf2onnx",
            "onnxruntime_layers", "onnxruntime_layers_int8")
BATCH_ONLY_ONE = ("litert_layers", "onnxruntime_layers", "onnxruntime_layers_int8")
# The per-layer runtimes run the single-layer graph of their runtime, so they share its layer-time curve.
SAME_LAYER = {"litert_layers": "litert", "onnxruntime_layers": "onnxruntime",
              "onnxruntime_layers_int8": "onnxruntime_int8"}

define_common_flags()
define_adapler_name_flags()
define_timing_flags()
flags.DEFINE_float("ETA_SCALE", 1.0, "Times the checkpoint's ETA (the inference-time speed knob of --ETA_SCALES).",
                   lower_bound=0.0)
flags.DEFINE_integer("THREADS", 2, "LiteRT interpreter and ONNX Runtime threads.", lower_bound=1)
flags.DEFINE_list("RUNTIMES", list(RUNTIMES), f"Runtimes to time: {', '.join(RUNTIMES)}.")
flags.register_validator("RUNTIMES", lambda names: set(names) <= set(RUNTIMES), f"--RUNTIMES: of {', '.join(RUNTIMES)}.")
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")


class _LayerModule(tf.Module):
    """One encoder layer with a length-generic signature, to export and time in every runtime."""

    def __init__(self, layer, hidden_size):
        super().__init__()
        self.layer = layer
        self.signature = [tf.TensorSpec([1, None, hidden_size], name="hidden"), tf.TensorSpec([1, 1, 1, None], name="bias")]
        self.run = tf.function(lambda hidden, bias: {"out": layer(hidden, bias, None, None, None, None, False)[0]},
                               input_signature=self.signature)


def _layer_runtimes(model, folder, wanted):
    """`{runtime: callable(hidden, bias)}` for one encoder layer of `model` (ONNX Runtime's for `wanted` only)."""
    module = _LayerModule(model.bert.encoder.layer[0], model.config.hidden_size)
    path = os.path.join(folder, "layer")
    tf.saved_model.save(module, path, signatures={"serving_ids": module.run.get_concrete_function()})
    loaded = tf.saved_model.load(path).signatures["serving_ids"]
    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=["serving_ids"])
    interpreter = Interpreter(model_content=converter.convert(), num_threads=FLAGS.THREADS)
    runner = interpreter.get_signature_runner("serving_ids")
    files = _onnx_files(lambda path, friendly: _layer_onnx(model, module, path, friendly), folder, "layer",
                        {SAME_LAYER.get(name, name) for name in wanted})
    runtimes = {"graph": lambda h, b: module.run(h, b), "saved_model": lambda h, b: loaded(hidden=h, bias=b),
                "litert": lambda h, b: runner(hidden=h.numpy(), bias=b.numpy())}
    for name, session in ((name, cpu_session(path, FLAGS.THREADS)) for name, path in files.items()):
        runtimes[name] = lambda h, b, session=session: session.run(None, {"hidden": h.numpy(), "bias": b.numpy()})
    return runtimes


def _layer_onnx(model, module, path, friendly):
    """One layer as an ONNX file, traced as `export_onnx` traces the model (a fresh tf.function: a traced one
    would keep the layers it was traced with)."""
    function = tf.function(module.run.python_function, input_signature=module.signature)
    with onnx_friendly(model) if friendly else contextlib.nullcontext():
        return convert_function(function, path)


def _onnx_files(export, folder, name, wanted):
    """`{runtime: ONNX file}` of the wanted ONNX Runtime runtimes; `export(path, friendly)` writes one file."""
    files = {}
    if {"onnxruntime", "onnxruntime_int8"} & wanted:
        fp32 = export(os.path.join(folder, f"{name}.onnx"), True)
        files["onnxruntime"] = fp32
        if "onnxruntime_int8" in wanted:
            files["onnxruntime_int8"] = quantize_int8(fp32, os.path.join(folder, f"{name}_int8.onnx"))
    if "onnxruntime_tf2onnx" in wanted:
        files["onnxruntime_tf2onnx"] = export(os.path.join(folder, f"{name}_tf2onnx.onnx"), False)
    return {runtime: path for runtime, path in files.items() if runtime in wanted}


def layer_curves(model, folder, wanted):
    """Per runtime, `(lengths, median seconds)` of one layer at batch 1.

    One runtime at a time, its lengths interleaved, as `_batch_one` times the models: with the runtimes
    interleaved, LiteRT's threads still spinning after its call slowed ONNX Runtime's next one (docs/serving.md).
    """
    runtimes = _layer_runtimes(model, folder, wanted)
    lengths = curve_lengths(FLAGS.MAX_LENGTH)
    inputs = [(tf.random.normal([1, n, model.config.hidden_size]), tf.zeros([1, 1, 1, n])) for n in lengths]
    curves = {}
    for name, run in runtimes.items():
        for args in inputs:
            run(*args)
        curves[name] = (lengths, interleaved_medians([(run, args) for args in inputs], max(FLAGS.TIMING_REPEATS, 10)))
    curves.update({name: curves[layer] for name, layer in SAME_LAYER.items() if layer in curves})
    return curves


def _model_runtimes(model, task, tokenizer, folder, name, wanted):
    """`{runtime: callable(inputs dict) -> logits}` for a classifier in each wanted runtime."""
    runtimes = {}
    if {"saved_model", "litert"} & set(wanted):
        module = ServingModule(model, InGraphTokenizer.from_backbone_tokenizer(tokenizer, FLAGS.MAX_LENGTH), task,
                               pair=task.is_pair)
        path = save(module, os.path.join(folder, name))
        signature = tf.saved_model.load(path).signatures["serving_ids"]
        runtimes["saved_model"] = lambda inputs: signature(**inputs)["logits"]
        litert_path = os.path.join(folder, f"{name}.tflite")
        convert(path, litert_path)
        litert = LiteRTModel(litert_path, num_threads=FLAGS.THREADS)
        runtimes["litert"] = lambda inputs: litert(**{k: v.numpy() for k, v in inputs.items()})["logits"]
    graph = compiled_forward(model, model.removes_tokens)
    runtimes["graph"] = lambda inputs: graph(inputs)[0]
    if "litert_layers" in wanted:
        layerwise = LayerwiseLiteRT(export_layerwise(model, os.path.join(folder, f"{name}_layers.tflite")),
                                    num_threads=FLAGS.THREADS)
        runtimes["litert_layers"] = lambda inputs: layerwise(inputs["input_ids"].numpy(),
                                                             inputs["token_type_ids"].numpy())["logits"]
    files = _onnx_files(lambda path, friendly: export_onnx(model, path, friendly=friendly), folder, name, set(wanted))
    for runtime, path in files.items():
        classifier = OnnxClassifier(path, threads=FLAGS.THREADS)
        runtimes[runtime] = lambda inputs, c=classifier: c(**{k: v.numpy() for k, v in inputs.items()})["logits"]
    for runtime, int8 in (("onnxruntime_layers", False), ("onnxruntime_layers_int8", True)):
        if runtime in wanted:
            pieces = LayerwiseOnnx(export_layerwise_onnx(model, os.path.join(folder, f"{name}_{runtime}"), int8=int8),
                                   threads=FLAGS.THREADS)
            runtimes[runtime] = lambda inputs, p=pieces: p(inputs["input_ids"].numpy(),
                                                           inputs["token_type_ids"].numpy())["logits"]
    return {runtime: runtimes[runtime] for runtime in wanted}


def _batch_one(plain, adapler, inputs):
    """`[examples, 2]` median seconds of both models of one runtime on each input, the two calls interleaved.

    One runtime at a time: interleaving runtimes let one's idle threads, still spinning, slow the next one's call.
    """
    plain(inputs[0]), adapler(inputs[0])
    return np.array([interleaved_medians([(plain, (x,)), (adapler, (x,))], FLAGS.TIMING_REPEATS) for x in inputs])


def _percentiles(seconds):
    return {"p50_ms": float(np.percentile(seconds, 50) * 1e3), "p95_ms": float(np.percentile(seconds, 95) * 1e3),
            "total_s": float(np.sum(seconds))}


def _batched(runtimes, dev, names):
    """Per runtime: both models over the dev split in batches of --TIMING_BATCH_SIZE (split order, padded per batch,
    not grouped by length), calls interleaved; seconds, examples/s, the speedup and every logit."""
    batches_ = list(batches(dev, FLAGS.TIMING_BATCH_SIZE))
    result = {}
    for runtime in names:
        if runtime in BATCH_ONLY_ONE:
            continue
        calls = [(runtimes[model][runtime], (batches_[0][0],)) for model in ("plain", "adapler")]
        for function, args in calls:
            function(*args)
        seconds = np.zeros(2)
        logits = {"plain": [], "adapler": []}
        for inputs, _, _ in batches_:
            seconds += interleaved_medians([(f, (inputs,)) for f, _ in calls], FLAGS.TIMING_REPEATS)
            for model in logits:
                logits[model].append(np.asarray(runtimes[model][runtime](inputs)))
        result[runtime] = {"plain_seconds": float(seconds[0]), "adapler_seconds": float(seconds[1]),
                           "plain_examples_per_s": len(dev) / seconds[0], "adapler_examples_per_s": len(dev) / seconds[1],
                           "speedup": float(seconds[0] / seconds[1]),
                           "logits": {model: np.concatenate(values) for model, values in logits.items()}}
    return result


def main(argv):
    del argv
    task = cli.task()
    dirs = cli.task_dir().require()
    plain = load_trained(FLAGS.BASE_MODEL, task.num_labels, best_finetuned(task, dirs)[0])
    adapler = load_trained(FLAGS.BASE_MODEL, task.num_labels, dirs.adapler_model(cli.adapler_name(dirs)))
    adapler.bert.encoder.ETA.assign(adapler.bert.encoder.ETA * FLAGS.ETA_SCALE)
    tokenizer = cli.tokenizer()
    dev = cli.encoded(task, task.dev_splits[0], tokenizer, FLAGS.EVAL_EXAMPLES)
    timed = dev.subset(FLAGS.TIMING_EXAMPLES) if FLAGS.TIMING_EXAMPLES else dev
    inputs = [{"input_ids": tf.constant(ids[None]), "attention_mask": tf.ones([1, len(ids)], tf.int32),
               "token_type_ids": tf.constant(types[None])} for ids, types in zip(timed.input_ids, timed.token_type_ids)]
    names = list(FLAGS.RUNTIMES)
    with tempfile.TemporaryDirectory() as folder:
        runtimes = {key: _model_runtimes(model, task, tokenizer, folder, key, names)
                    for key, model in (("plain", plain), ("adapler", adapler))}
        curves = layer_curves(plain, folder, names)
        times = np.concatenate([_batch_one(runtimes["plain"][runtime], runtimes["adapler"][runtime], inputs)
                                for runtime in names], axis=1)
        batched = _batched(runtimes, dev, names)
    dev_outputs = predict(adapler, dev, FLAGS.TIMING_BATCH_SIZE, lr_mode=True)
    # The timed examples are the first of dev, and a padded batch gives each example its lengths alone.
    lengths = dev_outputs["lengths"][:len(inputs)]
    flops = flops_report(adapler, task.num_labels, timed.lengths, {"lengths": lengths})
    dev_flops = flops_report(adapler, task.num_labels, dev.lengths, dev_outputs)["speedup"]
    result = {"task": FLAGS.TASK, "backbone": FLAGS.BASE_MODEL, "max_length": FLAGS.MAX_LENGTH,
              "examples": len(inputs), "dev_examples": len(dev), "repeats": FLAGS.TIMING_REPEATS,
              "eta_scale": FLAGS.ETA_SCALE, "flops_speedup": flops["speedup"], "dev_flops_speedup": dev_flops,
              "batch_size": FLAGS.TIMING_BATCH_SIZE, "batches": "split order, padded per batch, not grouped by length",
              "mean_input_length": float(timed.lengths.mean()), "mean_layer_lengths": lengths.mean(0).tolist(),
              "runtimes": {}, "command": command_line(sys.argv), "machine": machine(),
              "date": today()}
    metric = task.metrics[0]
    for i, runtime in enumerate(names):
        plain_s, adapler_s = times[:, 2 * i], times[:, 2 * i + 1]
        measured = float(plain_s.sum() / adapler_s.sum())
        curve = curves[runtime]
        entry = {
            "plain": _percentiles(plain_s), "adapler": _percentiles(adapler_s), "measured_speedup": measured,
            "measured_over_flops": measured / flops["speedup"],
            "layer_time_curve": {"lengths": curve[0], "ms": [s * 1e3 for s in curve[1]]},
        }
        if runtime in batched:
            outcome = batched[runtime]
            logits = outcome.pop("logits")
            entry["batched"] = dict(outcome, scores={model: score(task, dev.labels, values)[metric]
                                                     for model, values in logits.items()})
        result["runtimes"][runtime] = entry
    scaled = "" if FLAGS.ETA_SCALE == 1 else f"_eta{FLAGS.ETA_SCALE:g}"
    stem = os.path.join(FLAGS.RESULTS_DIR, f"serving_{FLAGS.TASK}_{FLAGS.MAX_LENGTH}{scaled}")
    write_json(stem + ".json", result)
    write_text(stem + ".md", table(result))
    print(table(result))


def table(result):
    """A markdown summary: per runtime p50/p95 of both models, speedups, the batched pass and the layer-time curve."""
    scale = result.get("eta_scale", 1.0)
    scaled = "" if scale == 1 else f" (the checkpoint's ETA x{scale:g})"
    lines = [f"# Serving latency: {result['task']}, max length {result['max_length']}", "",
             f"Batch 1: {result['examples']} dev examples, median of {result['repeats']} interleaved calls each; "
             f"FLOPs speedup {result['flops_speedup']:.2f}x{scaled}. {result['machine']}, {result['date']}.",
             f"Command: `{result['command']}`.", "",
             "| runtime | plain p50 (ms) | plain p95 | AdapLeR p50 (ms) | AdapLeR p95 | measured speedup | of FLOPs |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result["runtimes"].items():
        lines.append(f"| {name} | {r['plain']['p50_ms']:.2f} | {r['plain']['p95_ms']:.2f} | {r['adapler']['p50_ms']:.2f} | "
                     f"{r['adapler']['p95_ms']:.2f} | {r['measured_speedup']:.2f}x | {r['measured_over_flops']:.2f} |")
    batched = {name: r["batched"] for name, r in result["runtimes"].items() if "batched" in r}
    if batched:
        lines += ["", f"Batched: all {result.get('dev_examples', '')} dev examples in batches of "
                  f"{result.get('batch_size', '')} ({result.get('batches', '')}); FLOPs speedup "
                  f"{result.get('dev_flops_speedup', float('nan')):.2f}x on them.", "",
                  "| runtime | plain examples/s | AdapLeR examples/s | speedup | plain dev score | AdapLeR dev score |",
                  "|---|---|---|---|---|---|"]
        for name, r in batched.items():
            lines.append(f"| {name} | {r['plain_examples_per_s']:.1f} | {r['adapler_examples_per_s']:.1f} | "
                         f"{r['speedup']:.2f}x | {r['scores']['plain']:.4f} | {r['scores']['adapler']:.4f} |")
    first = next(iter(result["runtimes"].values()))["layer_time_curve"]["lengths"]
    lines += ["", "One encoder layer at batch 1 (ms):", "",
              "| runtime | " + " | ".join(str(n) for n in first) + " |", "|---|" + "---|" * len(first)]
    for name, r in result["runtimes"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in r["layer_time_curve"]["ms"]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cli.run(main)
