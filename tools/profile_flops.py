"""Counts the FLOPs of the real TensorFlow graph with TF's profiler, next to `models/flops.py`'s count.

    python tools/profile_flops.py --BASE_MODEL=all-MiniLM-L6-v2 --LENGTHS=64,48,40,32,24,16,12

prints the profiler's count and the analytic count for the plain model at the input length and
for AdapLeR at the given per-layer lengths (first value: input length, then one per layer).
"""

from analysis.profiled_flops import profiled_adapler_flops, profiled_bert_flops
from models.flops import adapler_flops, bert_flops
from pipeline import cli
from pipeline.flags import FLAGS, define_recipe_flag, define_run_flags
from pipeline.loading import build_model
from tasks.readers import DataError

from absl import flags

flags.DEFINE_list("LENGTHS", "64,48,40,32,24,16,12", "Input length, then the live length of each layer.")
flags.DEFINE_integer("NUM_LABELS", 2, "Classifier outputs.", lower_bound=1)
define_recipe_flag()
define_run_flags()


def main(argv):
    del argv
    values = [int(v) for v in FLAGS.LENGTHS]
    if len(values) < 2 or any(v < 2 for v in values) or values != sorted(values, reverse=True):
        raise DataError("--LENGTHS: the input length then one non-increasing length (>= 2) per layer.")
    model = build_model(FLAGS.BASE_MODEL, FLAGS.NUM_LABELS)
    input_length, layer_lengths = values[0], values[1:]
    if len(layer_lengths) != model.config.num_hidden_layers:
        raise DataError(f"--LENGTHS needs {model.config.num_hidden_layers + 1} values for this backbone, got "
                        f"{len(values)}.")
    profiled = profiled_bert_flops(model, input_length)
    analytic = bert_flops(model.config, input_length, FLAGS.NUM_LABELS)
    print(f"BERT    n={input_length}: profiler {profiled:,} analytic {analytic:,.0f} ratio {analytic / profiled:.4f}")
    model.to_AdapLeR()
    profiled = profiled_adapler_flops(model, input_length, layer_lengths)
    analytic = adapler_flops(model.config, layer_lengths, FLAGS.NUM_LABELS, input_length=input_length)
    print(f"AdapLeR {layer_lengths}: profiler {profiled:,} analytic {analytic:,.0f} ratio {analytic / profiled:.4f}")


if __name__ == "__main__":
    cli.run(main)
