"""Stage 4: score, COUNT, SPEEDUP (TOTAL) and per-example FLOPs of a checkpoint on a labelled split.

    python run_files/run_classification_evaluation.py --TASK=sst2 --LR_MODEL --SPLIT=validation
    python run_files/run_classification_evaluation.py --TASK=sst2 --METHOD=ltp --MODEL_PATH=<...>/baselines/ltp_l0.1.h5

Without --LR_MODEL the best fine-tuned epoch is evaluated (speedup 1 by definition). --METHOD takes
a comparison method's checkpoint (run_files/run_baseline.py); every speedup is against the plain
backbone at each example's unpadded length. With --MODEL_PATH the outputs go to that checkpoint's
task directory (or beside it) and are named after it.
"""

from pipeline import cli
from pipeline.atomic import write_json
from pipeline.distribution import is_chief
from pipeline.evaluation import predict, score, write_flops_per_example
from pipeline.flags import (
    FLAGS,
    define_checkpoint_flags,
    define_common_flags,
    define_distribution_flags,
    define_method_flag,
)
from pipeline.methods import METHODS
from tasks.readers import DataError

define_checkpoint_flags("validation", "Labelled split: validation, validation_mismatched (MNLI) or test.")
define_common_flags()
define_distribution_flags()
define_method_flag(METHODS, "adapler")


def main(argv):
    del argv
    strategy = cli.strategy()
    task = cli.task()
    dirs = cli.task_dir().require()
    tok = cli.tokenizer()
    encoded = cli.encoded(task, FLAGS.SPLIT, tok, FLAGS.EVAL_EXAMPLES)
    if not task.is_regression and (encoded.labels < 0).any():
        raise DataError(f"Split {FLAGS.SPLIT} of {task.name} is unlabeled: use run_files/run_glue_prediction.py.")
    model, path, record = cli.evaluated_model(task, dirs, strategy)
    model_encoded = cli.method_inputs(task, FLAGS.SPLIT, tok, encoded, record, FLAGS.EVAL_EXAMPLES)
    outputs = predict(model, model_encoded, FLAGS.BATCH_SIZE, lr_mode=model.removes_tokens, description=FLAGS.SPLIT,
                      strategy=strategy)
    if not is_chief(strategy):
        return
    scores = score(task, encoded.labels, outputs["logits"])
    flops = cli.evaluated_flops(model, task, encoded, model_encoded, outputs)
    write_flops_per_example(dirs.log("flops_per_example.pickle"), path, FLAGS.SPLIT, encoded, outputs["lengths"],
                            flops)
    write_json(dirs.log(f"eval_{cli.run_name(dirs)}_{FLAGS.SPLIT}.json"), {
        "checkpoint": path, "split": FLAGS.SPLIT, "count": len(encoded), "scores": scores,
        "speedup": flops["speedup"], "mean_input_length": float(encoded.lengths.mean()),
        "mean_layer_lengths": None if outputs["lengths"] is None else outputs["lengths"].mean(axis=0).tolist(),
    })
    for metric, value in scores.items():
        print(f"{metric.upper()}: {value:.4f}")
    print(f"COUNT: {len(encoded)}")
    print(f"SPEEDUP (TOTAL): {flops['speedup']:.4f}", flush=True)


if __name__ == "__main__":
    cli.run(main)
