"""Stage 4: score, COUNT, SPEEDUP (TOTAL) and per-example FLOPs of a checkpoint on a labelled split.

    python run_files/run_classification_evaluation.py --TASK=sst2 --LR_MODEL --SPLIT=validation

Without --LR_MODEL the best fine-tuned epoch is evaluated (speedup 1 by definition). With
--MODEL_PATH the outputs go to that checkpoint's task directory (or beside it) and are named after it.
"""

from pipeline import cli
from pipeline.atomic import write_json
from pipeline.distribution import is_chief
from pipeline.evaluation import flops_report, predict, score, write_flops_per_example
from pipeline.flags import FLAGS, define_checkpoint_flags, define_common_flags, define_distribution_flags
from tasks.readers import DataError

define_checkpoint_flags("validation", "Labelled split: validation, validation_mismatched (MNLI) or test.")
define_common_flags()
define_distribution_flags()


def main(argv):
    del argv
    strategy = cli.strategy()
    task = cli.task()
    dirs = cli.task_dir().require()
    encoded = cli.encoded(task, FLAGS.SPLIT, cli.tokenizer(), FLAGS.EVAL_EXAMPLES)
    if not task.is_regression and (encoded.labels < 0).any():
        raise DataError(f"Split {FLAGS.SPLIT} of {task.name} is unlabeled: use run_files/run_glue_prediction.py.")
    model, path = cli.trained_model(task, dirs, FLAGS.LR_MODEL, strategy)
    outputs = predict(model, encoded, FLAGS.BATCH_SIZE, lr_mode=FLAGS.LR_MODEL, description=FLAGS.SPLIT,
                      strategy=strategy)
    if not is_chief(strategy):
        return
    scores = score(task, encoded.labels, outputs["logits"])
    flops = flops_report(model.config, task.num_labels, encoded.lengths, outputs["lengths"])
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
