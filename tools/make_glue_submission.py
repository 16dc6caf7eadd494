"""Collects the GLUE test predictions of one backbone and seed into the zip the GLUE server takes.

    python tools/make_glue_submission.py --BASE_MODEL=all-MiniLM-L6-v2 --DATA_SEED=42 --DATA_DIR=../shared/data

The zip holds CoLA, SST-2, MRPC, STS-B, QQP, MNLI-m, MNLI-mm, QNLI, RTE, WNLI and AX (`.tsv`), each
`index<TAB>prediction` from `logs/glue_prediction_<name>_<split>.tsv` of its task directory
(stage 5; MNLI-mm and AX come from the MNLI model with --SPLIT=test_mismatched / ax). Row counts are
checked against the test files in --DATA_DIR (else the official counts). Missing tasks stop it with
one message listing them, unless --FILL_MISSING fills them with the majority training class.
"""

import os

from models.backbones import backbone_label
from pipeline import cli
from pipeline.flags import FLAGS, define_data_flags, define_recipe_flag, define_run_flags
from pipeline.glue_submission import make_submission

from absl import flags

flags.DEFINE_string("NAME", "", "Run name of the prediction files (glue_prediction_<NAME>_<split>.tsv) when a task "
                                "directory holds several; empty = the only one.")
flags.DEFINE_string("OUTPUT", "", "Zip to write; empty = <directory>/<backbone>/<seed>/glue_submission.zip.")
flags.DEFINE_bool("FILL_MISSING", False, "Fill tasks without predictions with a majority-class placeholder.")
define_recipe_flag()
define_run_flags()
define_data_flags()


def main(argv):
    del argv
    label = backbone_label(FLAGS.BASE_MODEL)
    output = FLAGS.OUTPUT or os.path.join(FLAGS.DIRECTORY, label, str(FLAGS.DATA_SEED), "glue_submission.zip")
    sources = make_submission(output, label, FLAGS.DATA_SEED, FLAGS.DATA_DIR or None, FLAGS.NAME, FLAGS.FILL_MISSING,
                              root=FLAGS.DIRECTORY)
    for stem, source in sources.items():
        print(f"{stem + '.tsv':<12} {source}")
    print(f"GLUE SUBMISSION: {output}", flush=True)


if __name__ == "__main__":
    cli.run(main)
