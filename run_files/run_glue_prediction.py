"""Stage 5: predictions on an unlabelled GLUE test split, as the GLUE server expects them.

    python run_files/run_glue_prediction.py --TASK=sst2 --LR_MODEL
    python run_files/run_glue_prediction.py --TASK=mnli --SPLIT=test_mismatched --LR_MODEL
    python run_files/run_glue_prediction.py --TASK=mnli --SPLIT=ax --LR_MODEL   # the diagnostic set, MNLI model

Writes `logs/glue_prediction_<name>_<split>.tsv` (`index<TAB>prediction`, GLUE label names) and
`logs/flops_per_example.pickle`, and prints the FLOPs speedup on that split. With --MODEL_PATH the
outputs go to that checkpoint's task directory (or beside it) and are named after it.
`tools/make_glue_submission.py` collects the files into the zip the server takes.
"""

from pipeline import cli
from pipeline.atomic import write_text
from pipeline.evaluation import predict, predictions_from_logits, write_flops_per_example
from pipeline.flags import FLAGS, define_checkpoint_flags, define_common_flags, define_method_flag
from pipeline.methods import METHODS
from tasks.readers import DataError

define_checkpoint_flags("test", "GLUE test split to predict: test, or for MNLI also test_mismatched and ax.")
define_common_flags()
define_method_flag(METHODS, "adapler")


def format_prediction(task, value):
    if task.is_regression:
        return f"{min(max(float(value), 0.0), 5.0):.3f}"
    return task.label_names[int(value)]


def main(argv):
    del argv
    task = cli.task()
    if not task.glue_files:
        raise DataError(f"--TASK {task.name} is not a GLUE task; use run_files/run_classification_evaluation.py.")
    if FLAGS.SPLIT not in task.glue_files:
        raise DataError(f"--SPLIT {FLAGS.SPLIT}: the GLUE test splits of {task.name} are "
                        f"{', '.join(task.glue_files)}.")
    dirs = cli.task_dir().require()
    # The submission needs every test example, so --EVAL_EXAMPLES does not apply here.
    tok = cli.tokenizer()
    encoded = cli.encoded(task, FLAGS.SPLIT, tok)
    model, checkpoint, record = cli.evaluated_model(task, dirs)
    model_encoded = cli.method_inputs(task, FLAGS.SPLIT, tok, encoded, record)
    outputs = predict(model, model_encoded, FLAGS.BATCH_SIZE, lr_mode=model.removes_tokens, description=FLAGS.SPLIT)
    predictions = predictions_from_logits(task, outputs["logits"])
    path = dirs.glue_prediction(cli.run_name(dirs), FLAGS.SPLIT)
    lines = ["index\tprediction"] + [f"{i}\t{format_prediction(task, p)}" for i, p in enumerate(predictions)]
    write_text(path, "\n".join(lines) + "\n")
    flops = cli.evaluated_flops(model, task, encoded, model_encoded, outputs)
    write_flops_per_example(dirs.log("flops_per_example.pickle"), checkpoint, FLAGS.SPLIT, encoded,
                            outputs["lengths"], flops)
    print(f"GLUE FILE ({task.glue_files[FLAGS.SPLIT]}): {path}")
    print(f"COUNT: {len(encoded)}")
    print(f"SPEEDUP (TOTAL): {flops['speedup']:.4f}", flush=True)


if __name__ == "__main__":
    cli.run(main)
