"""Stage 4: score, COUNT, SPEEDUP (TOTAL) and per-example FLOPs of a checkpoint on a labelled split.

    python run_files/run_classification_evaluation.py --TASK=sst2 --LR_MODEL --SPLIT=validation

Without --LR_MODEL the best fine-tuned epoch is evaluated (speedup 1 by definition).
"""

import _bootstrap  # noqa: F401

import pipeline  # noqa: F401
from pipeline.atomic import write_json, write_pickle
from pipeline.evaluation import flops_report, predict, score
from pipeline.stage import (FLAGS, adapler_name, current_task, define_checkpoint_flags, define_common_flags,
                            load_encoded, run, task_dir, tokenizer, trained_model)
from tasks.readers import DataError

define_checkpoint_flags("validation", "Labelled split: validation, validation_mismatched (MNLI) or test.")
define_common_flags()


def main(argv):
    del argv
    task = current_task()
    dirs = task_dir().require()
    encoded = load_encoded(task, FLAGS.SPLIT, tokenizer(), FLAGS.EVAL_EXAMPLES)
    if not task.is_regression and (encoded.labels < 0).any():
        raise DataError(f"Split {FLAGS.SPLIT} of {task.name} is unlabeled: use run_files/run_glue_prediction.py.")
    model, path = trained_model(task, dirs, FLAGS.LR_MODEL, FLAGS.MODEL_PATH)
    outputs = predict(model, encoded, FLAGS.BATCH_SIZE, lr_mode=FLAGS.LR_MODEL, description=FLAGS.SPLIT)
    scores = score(task, encoded.labels, outputs["logits"])
    flops = flops_report(model.config, task.num_labels, encoded.lengths, outputs["lengths"])
    name = adapler_name(dirs) if FLAGS.LR_MODEL else "bert"
    write_pickle(dirs.log("flops_per_example.pickle"), {
        "checkpoint": path, "split": FLAGS.SPLIT, "input_lengths": encoded.lengths,
        "layer_lengths": outputs["lengths"], "bert_flops": flops["bert"], "model_flops": flops["model"],
    })
    write_json(dirs.log(f"eval_{name}_{FLAGS.SPLIT}.json"), {
        "checkpoint": path, "split": FLAGS.SPLIT, "count": len(encoded), "scores": scores,
        "speedup": flops["speedup"],
    })
    for metric, value in scores.items():
        print(f"{metric.upper()}: {value:.4f}")
    print(f"COUNT: {len(encoded)}")
    print(f"SPEEDUP (TOTAL): {flops['speedup']:.4f}", flush=True)


if __name__ == "__main__":
    run(main)
