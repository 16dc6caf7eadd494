"""Where inference time goes: one encoder layer, one CP, survivor packing, and the whole model.

    python benchmarks/profile_inference.py --BASE_MODEL=all-MiniLM-L6-v2

Times each piece as a compiled graph (median of --RUNS calls) at batch 1 and batch 32 for a few
lengths, and the full model plain vs `lr_mode=True` with nothing removed (ETA = 1e-3), which is
AdapLeR's fixed overhead. Weights are the pre-trained backbone with fresh CP heads: the cost of
the machinery does not depend on training. Writes inference_profile.json and .md to --RESULTS_DIR.
"""

import os
import sys

from analysis.timing import call_seconds, interleaved_medians
from models.token_removal import extended_mask, pack_survivors
from pipeline import cli
from pipeline.atomic import write_json, write_text
from pipeline.evaluation import compiled_forward
from pipeline.flags import FLAGS, define_recipe_flag, define_run_flags
from pipeline.loading import build_model
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today

import numpy as np
import tensorflow as tf
from absl import flags

define_recipe_flag()
define_run_flags()
flags.DEFINE_list("LENGTHS", "64,256", "Sequence lengths.")
flags.DEFINE_list("BATCHES", "1,32", "Batch sizes.")
flags.DEFINE_integer("RUNS", 20, "Timed calls per measurement (median kept).", lower_bound=1)
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Output folder.")


def median_ms(*functions_and_args):
    """Median ms of each `(function, args)`, the calls alternating so drift hits all alike."""
    for function, args in functions_and_args:
        call_seconds(function, *args)
    return [1000 * seconds for seconds in interleaved_medians(list(functions_and_args), FLAGS.RUNS)]


def main(argv):
    del argv
    plain = build_model(FLAGS.BASE_MODEL, 2)
    adapler = build_model(FLAGS.BASE_MODEL, 2).to_AdapLeR()
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
              "machine": machine(), "date": today()}
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
    cli.run(main)
