"""Exports a trained classifier for serving: a SavedModel that takes raw text, a LiteRT file, or an ONNX file.

    python tools/export_model.py --TASK=sst2 --LR_MODEL --FORMAT=saved_model --OUTPUT=exports/sst2_adapler
    python tools/export_model.py --TASK=sst2 --LR_MODEL --FORMAT=litert --OUTPUT=exports/sst2_adapler.tflite
    python tools/export_model.py --TASK=sst2 --LR_MODEL --FORMAT=litert_layers --OUTPUT=exports/sst2_layers.tflite
    python tools/export_model.py --TASK=sst2 --LR_MODEL --FORMAT=onnx --OUTPUT=exports/sst2_adapler.onnx
    python tools/export_model.py --TASK=sst2 --LR_MODEL --FORMAT=onnx --QUANTIZE=int8 --OUTPUT=exports/sst2_int8.onnx
    python tools/export_model.py --TASK=sst2 --LR_MODEL --FORMAT=onnx_layers --OUTPUT=exports/sst2_onnx_layers

The SavedModel's `serving_default` takes `text` (and `text_pair` for pair tasks) as `[batch]`
strings, tokenises them in the graph with the backbone's vocabulary, casing and truncation to
--MAX_LENGTH, and runs the model (hard removal with --LR_MODEL); `serving_ids` takes token ids.
The LiteRT file holds `serving_ids` with a dynamic length, in builtin ops only. Without
--LR_MODEL the plain fine-tuned model is exported (the baseline). `litert_layers` is the
batch-1 LiteRT form with one signature per layer and the token drop between them
(`serving/layerwise.py`, run by `serving.layerwise.LayerwiseLiteRT`): every layer keeps XNNPACK.
The ONNX file takes `input_ids`, `attention_mask` and `token_type_ids` (int64) and returns `logits`
and `lengths` (`serving/onnx_export.py`; run it with `serving.onnx_runtime.OnnxClassifier`);
`--QUANTIZE=int8` writes it with dynamically quantised int8 weights. `onnx_layers` is the batch-1
ONNX form: a folder with one file per piece (start, block_i, last; `serving.onnx_runtime.LayerwiseOnnx`).
"""

import os
import tempfile

from pipeline import cli
from pipeline.flags import FLAGS, define_checkpoint_flags, define_common_flags
from serving.layerwise import export_layerwise
from serving.litert import convert
from serving.module import ServingModule, save
from serving.onnx_export import export_layerwise_onnx, export_onnx, quantize_int8
from serving.tokenization import InGraphTokenizer
from tasks.readers import DataError

from absl import flags

flags.DEFINE_enum("FORMAT", "saved_model", ["saved_model", "litert", "litert_layers", "onnx", "onnx_layers"],
                  "What to write: a SavedModel, a LiteRT file of serving_ids, the per-layer batch-1 LiteRT file, an "
                  "ONNX file of the ids signature, or a folder of per-layer batch-1 ONNX files.")
flags.DEFINE_enum("QUANTIZE", "none", ["none", "int8"], "onnx, onnx_layers: dynamic int8 quantisation of the weights.")
flags.DEFINE_string("OUTPUT", None, "SavedModel folder, .tflite or .onnx file, or onnx_layers folder to write.")
flags.DEFINE_bool("ALLOW_SELECT_OPS", False, "LiteRT: fall back to TensorFlow kernels for ops LiteRT lacks.")
flags.mark_flag_as_required("OUTPUT")
define_checkpoint_flags()
define_common_flags()


def main(argv):
    del argv
    if FLAGS.QUANTIZE != "none" and FLAGS.FORMAT not in ("onnx", "onnx_layers"):
        raise DataError("--QUANTIZE applies to --FORMAT=onnx and onnx_layers.")
    task = cli.task()
    dirs = cli.task_dir().require()
    model, checkpoint = cli.trained_model(task, dirs, FLAGS.LR_MODEL)
    if FLAGS.FORMAT == "onnx":
        if FLAGS.QUANTIZE == "int8":
            with tempfile.TemporaryDirectory() as scratch:
                quantize_int8(export_onnx(model, os.path.join(scratch, "fp32.onnx")), FLAGS.OUTPUT)
        else:
            export_onnx(model, FLAGS.OUTPUT)
        print(f"ONNX: {FLAGS.OUTPUT} (from {checkpoint}; inputs input_ids, attention_mask, token_type_ids; outputs "
              f"logits, lengths{'; int8 weights' if FLAGS.QUANTIZE == 'int8' else ''})")
        return
    if FLAGS.FORMAT == "onnx_layers":
        export_layerwise_onnx(model, FLAGS.OUTPUT, int8=FLAGS.QUANTIZE == "int8")
        print(f"ONNX LAYERS: {FLAGS.OUTPUT} (from {checkpoint}; start.onnx, block_i.onnx, last.onnx; batch 1"
              f"{'; int8 weights' if FLAGS.QUANTIZE == 'int8' else ''})")
        return
    if FLAGS.FORMAT == "litert_layers":
        export_layerwise(model, FLAGS.OUTPUT)
        print(f"LITERT LAYERS: {FLAGS.OUTPUT} (from {checkpoint}; signatures start, block_i, last; batch 1)")
        return
    module = ServingModule(model, InGraphTokenizer.from_backbone_tokenizer(cli.tokenizer(), FLAGS.MAX_LENGTH), task,
                           pair=task.is_pair)
    if FLAGS.FORMAT == "saved_model":
        save(module, FLAGS.OUTPUT)
        print(f"SAVED MODEL: {FLAGS.OUTPUT} (from {checkpoint}; signatures serving_default, serving_ids)")
        return
    with tempfile.TemporaryDirectory() as scratch:
        select_ops = convert(save(module, os.path.join(scratch, "saved_model")), FLAGS.OUTPUT, FLAGS.ALLOW_SELECT_OPS)
    needs = f"; needs SELECT_TF_OPS for {', '.join(select_ops)}" if select_ops else "; builtin ops only"
    print(f"LITERT: {FLAGS.OUTPUT} (from {checkpoint}{needs})")


if __name__ == "__main__":
    cli.run(main)
