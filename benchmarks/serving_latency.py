"""Batch-1 latency of the plain model and of AdapLeR in each serving runtime.

    python benchmarks/serving_latency.py --TASK=sst2 --MAX_LENGTH=64 --DATA_DIR=../shared/data \
        --WORK_DIR=benchmarks/work --SAVE_NAME=bench --GAMMA=0.05 --PHI=0.002

Runtimes: TensorFlow's graph in this process (the pipeline's compiled forward), the exported
SavedModel loaded back (`serving_ids`), the LiteRT file in the `ai-edge-litert` interpreter
(XNNPACK, 2 threads), and `litert_layers`: one LiteRT graph per layer with the token drop between
them (`serving/layerwise.py`), which keeps XNNPACK on every layer. Every dev example is timed in every runtime and model in turn (interleaved,
median of --REPEATS calls), giving p50/p95 per example and the speedup as a ratio of totals; next
to it the FLOPs speedup, and each runtime's layer-time curve (one encoder layer at batch 1, 8..max
length), which says how much of the FLOPs gain that runtime can turn into time.
Writes `serving_<task>_<max length>.json` and `.md` under --RESULTS_DIR.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import models  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.report import command_line, machine  # noqa: E402
from benchmarks.wallclock import curve_lengths, interleaved_medians  # noqa: E402
from models.backbones import backbone_label, load_tokenizer, resolve_backbone  # noqa: E402
from models.modeling_tf_bert import TFBertForSequenceClassification  # noqa: E402
from pipeline.atomic import write_json, write_text  # noqa: E402
from pipeline.data import encode  # noqa: E402
from pipeline.evaluation import compiled_forward, flops_report  # noqa: E402
from pipeline.paths import REPO, TaskDir  # noqa: E402
from pipeline.stage import ranked_epochs  # noqa: E402
from serving.layerwise import LayerwiseLiteRT, export_layerwise  # noqa: E402
from serving.litert import LiteRTModel, convert  # noqa: E402
from serving.module import ServingModule, save  # noqa: E402
from serving.tokenization import InGraphTokenizer  # noqa: E402
from tasks.registry import get_task, load_split  # noqa: E402

flags.DEFINE_string("TASK", "sst2", "Task.")
flags.DEFINE_string("BASE_MODEL", "all-MiniLM-L6-v2", "Backbone.")
flags.DEFINE_integer("MAX_LENGTH", 64, "Max tokens per example (first window of long texts).")
flags.DEFINE_integer("DATA_SEED", 42, "Seed of the task directory.")
flags.DEFINE_string("DATA_DIR", os.environ.get("ADAPLER_DATA_DIR", ""), "Local data (empty = tensorflow-datasets).")
flags.DEFINE_string("WORK_DIR", os.path.join(REPO, "benchmarks", "work"), "Root of the task directories.")
flags.DEFINE_string("SAVE_NAME", "bench", "AdapLeR run name (with --GAMMA and --PHI).")
flags.DEFINE_float("GAMMA", 0.05, "GAMMA of the AdapLeR run.")
flags.DEFINE_float("PHI", 0.002, "PHI of the AdapLeR run.")
flags.DEFINE_float("ETA_SCALE", 1.0, "Times the checkpoint's ETA (the inference-time speed knob of --ETA_SCALES).",
                   lower_bound=0.0)
flags.DEFINE_integer("EXAMPLES", 100, "Dev examples timed at batch 1.", lower_bound=1)
flags.DEFINE_integer("REPEATS", 5, "Timed calls per example, runtime and model (median kept).", lower_bound=1)
flags.DEFINE_integer("THREADS", 2, "LiteRT interpreter threads.", lower_bound=1)
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")
FLAGS = flags.FLAGS


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
    medians = interleaved_medians(calls, max(FLAGS.REPEATS, 10))
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
    task = get_task(FLAGS.TASK)
    dirs = TaskDir(backbone_label(FLAGS.BASE_MODEL), FLAGS.TASK, FLAGS.DATA_SEED, root=FLAGS.WORK_DIR)
    path = resolve_backbone(FLAGS.BASE_MODEL)
    plain = TFBertForSequenceClassification.from_pretrained(path, num_labels=task.num_labels)
    plain.load_weights(dirs.finetuned_model(ranked_epochs(task, dirs.ft_logs)[0][0]))
    adapler = TFBertForSequenceClassification.from_pretrained(path, num_labels=task.num_labels).to_AdapLeR()
    adapler.load_weights(dirs.adapler_model(dirs.adapler_name(FLAGS.SAVE_NAME, FLAGS.GAMMA, FLAGS.PHI)))
    adapler.bert.encoder.ETA.assign(adapler.bert.encoder.ETA * FLAGS.ETA_SCALE)
    tokenizer = load_tokenizer(FLAGS.BASE_MODEL)
    examples = load_split(task, task.dev_splits[0], FLAGS.DATA_DIR or None, seed=FLAGS.DATA_SEED)[: FLAGS.EXAMPLES]
    dev = encode(examples, tokenizer, FLAGS.MAX_LENGTH)
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
        times = np.array([interleaved_medians([(f, (x,)) for f, _ in calls], FLAGS.REPEATS) for x in inputs])
    lengths = np.stack([compiled_forward(adapler, True)(x)[1].numpy()[0] for x in inputs])
    flops = flops_report(adapler.config, task.num_labels, dev.lengths, lengths)
    result = {"task": FLAGS.TASK, "backbone": FLAGS.BASE_MODEL, "max_length": FLAGS.MAX_LENGTH,
              "examples": len(inputs), "repeats": FLAGS.REPEATS, "eta_scale": FLAGS.ETA_SCALE,
              "flops_speedup": flops["speedup"],
              "mean_input_length": float(dev.lengths.mean()), "mean_layer_lengths": lengths.mean(0).tolist(),
              "runtimes": {}, "command": command_line(sys.argv), "machine": machine(),
              "date": time.strftime("%Y-%m-%d")}
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
    app.run(main)
