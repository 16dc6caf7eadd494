"""Do the tokens each layer keeps agree with human rationales? (docs/method.md, section 5: ERASER movie reviews, HateXplain)

    python tools/rationale_eval.py --TASK=movie_rationales --MAX_LENGTH=256 --SPLIT=test \
        --SAVE_NAME=bench --GAMMA=0.005 --PHI=0.0005

Per layer, mean Average Precision (soft scores against the rationale mask) and False Positive
Rate (kept iff score >= 1/n) over rationale-bearing windows, for the AdapLeR CPs (hard removal:
a token removed earlier scores 0), the fine-tuned model's head-averaged [CLS] attention, its
attention rollout, and its gradient x input saliency. Writes JSON and a PNG plot.
"""

import os
import sys

from analysis.rationale_agreement import evaluate, plot, write_table
from pipeline import cli
from pipeline.atomic import write_json
from pipeline.flags import FLAGS, define_adapler_name_flags, define_common_flags
from pipeline.paths import REPO
from pipeline.provenance import command_line
from tasks.rationales import RATIONALE_TASKS, load_rationale_windows, rationale_documents
from tasks.readers import DataError

from absl import flags

flags.DEFINE_enum("SPLIT", "test", ["train", "validation", "test"], "Split to evaluate.")
flags.DEFINE_string("OUTPUT", os.path.join(REPO, "benchmarks", "results", "rationales.json"), "Result JSON.")
define_adapler_name_flags()
define_common_flags()


def main(argv):
    del argv
    task = cli.task()
    if task.name not in RATIONALE_TASKS:
        raise DataError(f"The rationale analysis needs human rationales: --TASK {' or '.join(RATIONALE_TASKS)}.")
    if not FLAGS.DATA_DIR:
        raise DataError("The rationale analysis reads the upstream files: give --DATA_DIR (holding eraser/movies "
                        "or hatexplain).")
    dirs = cli.task_dir().require()
    documents = rationale_documents(task.name, FLAGS.DATA_DIR, FLAGS.SPLIT, FLAGS.HATEXPLAIN_TIES)
    windows = load_rationale_windows(documents, cli.tokenizer(), FLAGS.MAX_LENGTH)
    if FLAGS.EVAL_EXAMPLES:
        windows = windows[: FLAGS.EVAL_EXAMPLES]
    adapler, adapler_path = cli.trained_model(task, dirs, lr_model=True)
    plain, plain_path = cli.trained_model(task, dirs, lr_model=False)
    result = {
        "task": task.name, "split": FLAGS.SPLIT, "examples": len(windows), "documents": len({w.doc_id for w in windows}),
        "max_length": FLAGS.MAX_LENGTH, "adapler_checkpoint": os.path.relpath(adapler_path, REPO),
        "finetuned_checkpoint": os.path.relpath(plain_path, REPO),
        "methods": evaluate(windows, adapler, plain, FLAGS.BATCH_SIZE),
    }
    write_json(FLAGS.OUTPUT, result)
    stem = os.path.splitext(FLAGS.OUTPUT)[0]
    plot(result, stem + ".png")
    write_table(result, stem + ".md", command_line(sys.argv))
    for method, values in result["methods"].items():
        print(f"{method:>9}  AP " + " ".join(f"{v:.3f}" for v in values["ap"]) +
              "   FPR " + " ".join(f"{v:.3f}" for v in values["fpr"]))


if __name__ == "__main__":
    cli.run(main)
