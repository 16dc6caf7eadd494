"""Where inference time goes: one encoder layer, one CP, survivor packing, and the whole model.

    python benchmarks/profile_inference.py --BASE_MODEL=all-MiniLM-L6-v2

Times each piece as a compiled graph (median of --RUNS calls) at batch 1 and batch 32 for a few
lengths, and the full model plain vs `lr_mode=True` with nothing removed (ETA = 1e-3), which is
AdapLeR's fixed overhead. Weights are the pre-trained backbone with fresh CP heads: the cost of
the machinery does not depend on training. Writes inference_profile.json and .md to --RESULTS_DIR.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datetime  # noqa: E402

import numpy as np  # noqa: E402
import pipeline  # noqa: E402,F401
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.report import command_line, machine  # noqa: E402
from benchmarks.wallclock import call_seconds, interleaved_medians  # noqa: E402
from models.backbones import resolve_backbone  # noqa: E402
from models.modeling_tf_bert import TFBertForSequenceClassification  # noqa: E402
from models.token_removal import extended_mask, pack_survivors  # noqa: E402
from pipeline.atomic import write_json, write_text  # noqa: E402
from pipeline.evaluation import compiled_forward  # noqa: E402
from pipeline.paths import REPO  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("BASE_MODEL", "all-MiniLM-L6-v2", "Backbone.")
flags.DEFINE_list("LENGTHS", "64,256", "Sequence lengths.")
flags.DEFINE_list("BATCHES", "1,32", "Batch sizes.")
flags.DEFINE_integer("RUNS", 20, "Timed calls per measurement (median kept).")
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Output folder.")


def median_ms(*functions_and_args):
    """Median ms of each `(function, args)`, the calls alternating so drift hits all alike."""
    for function, args in functions_and_args:
        call_seconds(function, *args)
    return [1000 * seconds for seconds in interleaved_medians(list(functions_and_args), FLAGS.RUNS)]


def main(argv):
    del argv
    path = resolve_backbone(FLAGS.BASE_MODEL)
    plain = TFBertForSequenceClassification.from_pretrained(path, num_labels=2)
    adapler = TFBertForSequenceClassification.from_pretrained(path, num_labels=2).to_AdapLeR()
    adapler.bert.encoder.ETA.assign(np.full(adapler.config.num_hidden_layers, 1e-3, np.float32))
    layer = plain.bert.encoder.layer[0]
    predictor = adapler.bert.encoder.contribution_predictors[0]
    d = plain.config.hidden_size
    layer_fn = tf.function(lambda h, bias: layer(h, bias, None, None, None, None, False)[0])
    cp_fn = tf.function(lambda h, m: predictor(h, m))
    pack_fn = tf.function(lambda keep, h, m: pack_survivors(keep, [h, m]))
    rows = []
    for batch in map(int, FLAGS.BATCHES):
        for n in map(int, FLAGS.LENGTHS):
            hidden = tf.random.normal([batch, n, d])
            mask = tf.ones([batch, n])
            keep = tf.random.uniform([batch, n]) < 0.5
            ids = tf.random.uniform([batch, n], 1000, 2000, dtype=tf.int32)
            inputs = {"input_ids": ids, "attention_mask": tf.ones_like(ids), "token_type_ids": tf.zeros_like(ids)}
            plain_ms, lr_ms = median_ms((compiled_forward(plain, False), (inputs,)),
                                        (compiled_forward(adapler, True), (inputs,)))
            layer_ms, cp_ms, pack_ms = median_ms((layer_fn, (hidden, extended_mask(mask))), (cp_fn, (hidden, mask)),
                                                 (pack_fn, (keep, hidden, mask)))
            rows.append({
                "batch": batch, "length": n, "plain_model_ms": plain_ms, "lr_mode_no_removal_ms": lr_ms,
                "overhead": lr_ms / plain_ms - 1, "layer_ms": layer_ms, "cp_ms": cp_ms, "pack_ms": pack_ms,
            })
            print(rows[-1], flush=True)
    result = {"backbone": FLAGS.BASE_MODEL, "rows": rows, "command": command_line(sys.argv),
              "machine": machine(), "date": datetime.date.today().isoformat()}
    os.makedirs(FLAGS.RESULTS_DIR, exist_ok=True)
    write_json(os.path.join(FLAGS.RESULTS_DIR, "inference_profile.json"), result)
    lines = ["# Where inference time goes", "", f"`{result['command']}` on {result['machine']}, {result['date']}.",
             "Medians of alternating compiled calls; overhead = AdapLeR with nothing removed vs the plain model.", "",
             "| batch | length | plain model ms | lr_mode, nothing removed ms | overhead | one layer ms | one CP ms | "
             "pack survivors ms |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['batch']} | {r['length']} | {r['plain_model_ms']:.1f} | {r['lr_mode_no_removal_ms']:.1f} | "
              f"{100 * r['overhead']:+.0f}% | {r['layer_ms']:.2f} | {r['cp_ms']:.2f} | {r['pack_ms']:.2f} |" for r in rows]
    write_text(os.path.join(FLAGS.RESULTS_DIR, "inference_profile.md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    app.run(main)
