"""Stage 5: predictions on the unlabelled GLUE test split, as the GLUE server expects them.

    python run_files/run_glue_prediction.py --TASK=sst2 --LR_MODEL

Writes `logs/glue_prediction_<name>_<split>.tsv` (`index<TAB>prediction`, GLUE label names) and
prints the FLOPs speedup on that split.
"""

import _bootstrap  # noqa: F401

import pipeline  # noqa: F401
from pipeline.atomic import write_text
from pipeline.evaluation import flops_report, predict, predictions_from_logits
from pipeline.stage import (FLAGS, adapler_name, current_task, define_checkpoint_flags, define_common_flags,
                            load_encoded, run, task_dir, tokenizer, trained_model)
from tasks.readers import DataError

define_checkpoint_flags("test", "Split to predict (the unlabelled GLUE test split).")
define_common_flags()


def format_prediction(task, value):
    if task.is_regression:
        return f"{min(max(float(value), 0.0), 5.0):.3f}"
    return task.label_names[int(value)]


def main(argv):
    del argv
    task = current_task()
    if task.glue_name is None:
        raise DataError(f"--TASK {task.name} is not a GLUE task; use run_files/run_classification_evaluation.py.")
    dirs = task_dir().require()
    # The submission needs every test example, so --EVAL_EXAMPLES does not apply here.
    encoded = load_encoded(task, FLAGS.SPLIT, tokenizer())
    model, _ = trained_model(task, dirs, FLAGS.LR_MODEL, FLAGS.MODEL_PATH)
    outputs = predict(model, encoded, FLAGS.BATCH_SIZE, lr_mode=FLAGS.LR_MODEL, description=FLAGS.SPLIT)
    predictions = predictions_from_logits(task, outputs["logits"])
    name = adapler_name(dirs) if FLAGS.LR_MODEL else "bert"
    path = dirs.glue_prediction(name, FLAGS.SPLIT)
    lines = ["index\tprediction"] + [f"{i}\t{format_prediction(task, p)}" for i, p in enumerate(predictions)]
    write_text(path, "\n".join(lines) + "\n")
    flops = flops_report(model.config, task.num_labels, encoded.lengths, outputs["lengths"])
    print(f"GLUE FILE ({task.glue_name}): {path}")
    print(f"COUNT: {len(encoded)}")
    print(f"SPEEDUP (TOTAL): {flops['speedup']:.4f}", flush=True)


if __name__ == "__main__":
    run(main)
