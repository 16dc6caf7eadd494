"""Batch-1 latency of the plain model and of AdapLeR in each serving runtime.

    python benchmarks/serving_latency.py --RECIPE=quickstart --DATA_DIR=../shared/data --TIMING_EXAMPLES=200 \
        --TIMING_REPEATS=5
    python benchmarks/serving_latency.py --RECIPE=movies_512 --DIRECTORY=benchmarks/work512 --TIMING_EXAMPLES=50

Runtimes: TensorFlow's graph in this process (the pipeline's compiled forward), the exported
SavedModel loaded back (`serving_ids`), the LiteRT file in the `ai-edge-litert` interpreter
(XNNPACK, 2 threads), and `litert_layers`: one LiteRT graph per layer with the token drop between
them (`serving/layerwise.py`), which keeps XNNPACK on every layer. Every dev example is timed in every
runtime and model in turn (interleaved, median of --TIMING_REPEATS calls), giving p50/p95 per example and
the speedup as a ratio of totals; next
to it the FLOPs speedup, and each runtime's layer-time curve (one encoder layer at batch 1, 8..max
length), which says how much of the FLOPs gain that runtime can turn into time.
Writes `serving_<task>_<max length>.json` and `.md` under --RESULTS_DIR.
"""

import os
import sys
import tempfile

from analysis.timing import curve_lengths, interleaved_medians
from pipeline import cli
from pipeline.atomic import write_json, write_text
from pipeline.evaluation import compiled_forward, flops_report
from pipeline.flags import FLAGS, define_adapler_name_flags, define_common_flags, define_timing_flags
from pipeline.loading import best_finetuned, load_trained
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today
from serving.layerwise import LayerwiseLiteRT, export_layerwise
from serving.litert import LiteRTModel, convert
from serving.module import ServingModule, save
from serving.tokenization import InGraphTokenizer

import numpy as np
import tensorflow as tf
from absl import flags

define_common_flags()
define_adapler_name_flags()
define_timing_flags()
flags.DEFINE_float("ETA_SCALE", 1.0, "Times the checkpoint's ETA (the inference-time speed knob of --ETA_SCALES).",
                   lower_bound=0.0)
flags.DEFINE_integer("THREADS", 2, "LiteRT interpreter threads.", lower_bound=1)
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")


class _LayerModule(tf.Module):
    """One encoder layer with a length-generic signature, to export and time in every runtime."""

    def __init__(self, layer, hidden_size):
        super().__init__()
        self.layer = layer
        self.run = tf.function(lambda hidden, bias: {"out": layer(hidden, bias, None, None, None, None, False)[0]},
                               input_signature=[tf.TensorSpec([1, None, hidden_size], name="hidden"),
                                                tf.TensorSpec([1, 1, 1, None], name="bias")])


def _layer_runtimes(model, folder):
    """`{runtime: callable(hidden, bias)}` for one encoder layer of `model`."""
    module = _LayerModule(model.bert.encoder.layer[0], model.config.hidden_size)
    path = os.path.join(folder, "layer")
    tf.saved_model.save(module, path, signatures={"serving_ids": module.run.get_concrete_function()})
    loaded = tf.saved_model.load(path).signatures["serving_ids"]
    converter = tf.lite.TFLiteConverter.from_saved_model(path, signature_keys=["serving_ids"])
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=converter.convert(), num_threads=FLAGS.THREADS)
    runner = interpreter.get_signature_runner("serving_ids")
    return {"graph": lambda h, b: module.run(h, b), "saved_model": lambda h, b: loaded(hidden=h, bias=b),
            "litert": lambda h, b: runner(hidden=h.numpy(), bias=b.numpy())}


def layer_curves(model, folder):
    """Per runtime, `(lengths, median seconds)` of one layer at batch 1 (calls interleaved)."""
    runtimes = _layer_runtimes(model, folder)
    lengths = curve_lengths(FLAGS.MAX_LENGTH)
    inputs = [(tf.random.normal([1, n, model.config.hidden_size]), tf.zeros([1, 1, 1, n])) for n in lengths]
    calls = [(run, args) for run in runtimes.values() for args in inputs]
    for run, args in calls:
        run(*args)
    medians = interleaved_medians(calls, max(FLAGS.TIMING_REPEATS, 10))
    return {name: (lengths, medians[i * len(lengths):(i + 1) * len(lengths)]) for i, name in enumerate(runtimes)}


def _model_runtimes(model, task, tokenizer, folder, name):
    """`{runtime: callable(inputs dict)}` for a classifier: in-process graph, loaded SavedModel, LiteRT."""
    module = ServingModule(model, InGraphTokenizer.from_backbone_tokenizer(tokenizer, FLAGS.MAX_LENGTH), task,
                           pair=task.is_pair)
    path = save(module, os.path.join(folder, name))
    signature = tf.saved_model.load(path).signatures["serving_ids"]
    litert_path = os.path.join(folder, f"{name}.tflite")
    convert(path, litert_path)
    litert = LiteRTModel(litert_path, num_threads=FLAGS.THREADS)
    graph = compiled_forward(model, model.is_adapler)
    layerwise = LayerwiseLiteRT(export_layerwise(model, os.path.join(folder, f"{name}_layers.tflite")),
                                num_threads=FLAGS.THREADS)
    return {"graph": lambda inputs: graph(inputs), "saved_model": lambda inputs: signature(**inputs),
            "litert": lambda inputs: litert(**{k: v.numpy() for k, v in inputs.items()}),
            "litert_layers": lambda inputs: layerwise(inputs["input_ids"].numpy(), inputs["token_type_ids"].numpy())}


def _percentiles(seconds):
    return {"p50_ms": float(np.percentile(seconds, 50) * 1e3), "p95_ms": float(np.percentile(seconds, 95) * 1e3),
            "total_s": float(np.sum(seconds))}


def main(argv):
    del argv
    task = cli.task()
    dirs = cli.task_dir().require()
    plain = load_trained(FLAGS.BASE_MODEL, task.num_labels, best_finetuned(task, dirs)[0])
    adapler = load_trained(FLAGS.BASE_MODEL, task.num_labels, dirs.adapler_model(cli.adapler_name(dirs)))
    adapler.bert.encoder.ETA.assign(adapler.bert.encoder.ETA * FLAGS.ETA_SCALE)
    tokenizer = cli.tokenizer()
    dev = cli.encoded(task, task.dev_splits[0], tokenizer, FLAGS.TIMING_EXAMPLES)
    inputs = [{"input_ids": tf.constant(ids[None]), "attention_mask": tf.ones([1, len(ids)], tf.int32),
               "token_type_ids": tf.constant(types[None])} for ids, types in zip(dev.input_ids, dev.token_type_ids)]
    with tempfile.TemporaryDirectory() as folder:
        runtimes = {"plain": _model_runtimes(plain, task, tokenizer, folder, "plain"),
                    "adapler": _model_runtimes(adapler, task, tokenizer, folder, "adapler")}
        curves = layer_curves(plain, folder)
        curves["litert_layers"] = curves["litert"]  # the same single-layer graph
        names = list(runtimes["plain"])
        calls = [(runtimes[model][runtime], None) for runtime in names for model in ("plain", "adapler")]
        for function, _ in calls:
            function(inputs[0])
        times = np.array([interleaved_medians([(f, (x,)) for f, _ in calls], FLAGS.TIMING_REPEATS) for x in inputs])
    lengths = np.stack([compiled_forward(adapler, True)(x)[1].numpy()[0] for x in inputs])
    flops = flops_report(adapler, task.num_labels, dev.lengths, {"lengths": lengths})
    result = {"task": FLAGS.TASK, "backbone": FLAGS.BASE_MODEL, "max_length": FLAGS.MAX_LENGTH,
              "examples": len(inputs), "repeats": FLAGS.TIMING_REPEATS, "eta_scale": FLAGS.ETA_SCALE,
              "flops_speedup": flops["speedup"],
              "mean_input_length": float(dev.lengths.mean()), "mean_layer_lengths": lengths.mean(0).tolist(),
              "runtimes": {}, "command": command_line(sys.argv), "machine": machine(),
              "date": today()}
    for i, runtime in enumerate(names):
        plain_s, adapler_s = times[:, 2 * i], times[:, 2 * i + 1]
        measured = float(plain_s.sum() / adapler_s.sum())
        curve = curves[runtime]
        result["runtimes"][runtime] = {
            "plain": _percentiles(plain_s), "adapler": _percentiles(adapler_s), "measured_speedup": measured,
            "measured_over_flops": measured / flops["speedup"],
            "layer_time_curve": {"lengths": curve[0], "ms": [s * 1e3 for s in curve[1]]},
        }
    scaled = "" if FLAGS.ETA_SCALE == 1 else f"_eta{FLAGS.ETA_SCALE:g}"
    stem = os.path.join(FLAGS.RESULTS_DIR, f"serving_{FLAGS.TASK}_{FLAGS.MAX_LENGTH}{scaled}")
    write_json(stem + ".json", result)
    write_text(stem + ".md", table(result))
    print(table(result))


def table(result):
    """A markdown summary: per runtime p50/p95 of both models, speedups and the layer-time curve."""
    scale = result.get("eta_scale", 1.0)
    scaled = "" if scale == 1 else f" (the checkpoint's ETA x{scale:g})"
    lines = [f"# Serving latency at batch 1: {result['task']}, max length {result['max_length']}", "",
             f"{result['examples']} dev examples, median of {result['repeats']} interleaved calls each; "
             f"FLOPs speedup {result['flops_speedup']:.2f}x{scaled}. {result['machine']}, {result['date']}.",
             f"Command: `{result['command']}`.", "",
             "| runtime | plain p50 (ms) | plain p95 | AdapLeR p50 (ms) | AdapLeR p95 | measured speedup | of FLOPs |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result["runtimes"].items():
        lines.append(f"| {name} | {r['plain']['p50_ms']:.2f} | {r['plain']['p95_ms']:.2f} | {r['adapler']['p50_ms']:.2f} | "
                     f"{r['adapler']['p95_ms']:.2f} | {r['measured_speedup']:.2f}x | {r['measured_over_flops']:.2f} |")
    first = next(iter(result["runtimes"].values()))["layer_time_curve"]["lengths"]
    lines += ["", "One encoder layer at batch 1 (ms):", "",
              "| runtime | " + " | ".join(str(n) for n in first) + " |", "|---|" + "---|" * len(first)]
    for name, r in result["runtimes"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in r["layer_time_curve"]["ms"]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    cli.run(main)
