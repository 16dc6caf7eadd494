"""Prints the table that ends `run.sh`: fine-tuned and AdapLeR dev scores, speedup, GLUE file.

    python tools/summarize_run.py --TASK=sst2 --DATA_SEED=42
"""

import _bootstrap  # noqa: F401

import json
import os

import pipeline  # noqa: F401

from pipeline.stage import adapler_name, current_task, define_adapler_name_flags, define_common_flags, run, task_dir

define_adapler_name_flags()
define_common_flags()


def _read(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run the evaluation stage first.")
    with open(path) as handle:
        return json.load(handle)


def main(argv):
    del argv
    task = current_task()
    dirs = task_dir().require()
    split, metric = task.dev_splits[0], task.metrics[0]
    name = adapler_name(dirs)
    plain = _read(dirs.log(f"eval_bert_{split}.json"))
    adapler = _read(dirs.log(f"eval_{name}_{split}.json"))
    rows = [
        ("fine-tuned dev " + metric, f"{plain['scores'][metric]:.4f}"),
        ("AdapLeR dev " + metric, f"{adapler['scores'][metric]:.4f}"),
        ("FLOPs speedup (dev, total)", f"{adapler['speedup']:.2f}x"),
        ("dev examples", str(adapler["count"])),
        ("GLUE file", dirs.glue_prediction(name, "test")),
    ]
    width = max(len(r[0]) for r in rows)
    print("\n| " + "what".ljust(width) + " | value |\n|" + "-" * (width + 2) + "|-------|")
    for label, value in rows:
        print(f"| {label.ljust(width)} | {value} |")


if __name__ == "__main__":
    run(main)
