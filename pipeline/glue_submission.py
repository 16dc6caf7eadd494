"""A GLUE server submission: one zip holding every task's test predictions under the server's names."""

import glob
import logging
import os
import zipfile
from collections import Counter

from pipeline.atomic import atomic_path
from pipeline.paths import TaskDir
from tasks.readers import DataError
from tasks.registry import TASKS, load_split

import numpy as np

# The server's files in its own order, with the row counts of the official test sets.
OFFICIAL_ROWS = {"CoLA": 1063, "SST-2": 1821, "MRPC": 1725, "STS-B": 1379, "QQP": 390965, "MNLI-m": 9796,
                 "MNLI-mm": 9847, "QNLI": 5463, "RTE": 3000, "WNLI": 146, "AX": 1104}
HEADER = "index\tprediction"
log = logging.getLogger(__name__)


def submission_entries():
    """`[(file stem, task, split)]` of every GLUE test split, in the server's order."""
    entries = {stem: (task, split) for task in TASKS.values() for split, stem in task.glue_files.items()}
    return [(stem, *entries[stem]) for stem in OFFICIAL_ROWS]


def expected_rows(stem, task, split, data_dir):
    """Rows the server expects: the local test file's count when `data_dir` has it, else the official one."""
    if data_dir:
        try:
            return len(load_split(task, split, data_dir))
        except DataError:
            pass
    return OFFICIAL_ROWS[stem]


def find_prediction(dirs, split, name=""):
    """The prediction file of a task directory for `split`: `name`'s, or the only one there.

    Returns:
        A path, or None when there is none.

    Raises:
        DataError: several runs wrote predictions and `name` does not choose one.
    """
    if name:
        path = dirs.glue_prediction(name, split)
        return path if os.path.isfile(path) else None
    found = sorted(glob.glob(os.path.join(glob.escape(dirs.logs_dir), f"glue_prediction_*_{split}.tsv")))
    if len(found) > 1:
        names = ", ".join(os.path.basename(p)[len("glue_prediction_"):-len(f"_{split}.tsv")] for p in found)
        raise DataError(f"{dirs.logs_dir} holds predictions of several runs for {split} ({names}): choose one with --NAME.")
    return found[0] if found else None


def check_prediction(path, task, rows):
    """The file's lines after checking header, row count, indices and labels.

    Raises:
        DataError: naming the file and what is wrong.
    """
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    if not lines or lines[0] != HEADER:
        raise DataError(f"{path}: the first line must be {HEADER!r}.")
    if len(lines) - 1 != rows:
        raise DataError(f"{path}: {len(lines) - 1} predictions, the test set has {rows} rows.")
    for number, line in enumerate(lines[1:]):
        index, _, value = line.partition("\t")
        valid = _is_number(value) if task.is_regression else value in task.label_names
        if index != str(number) or not valid:
            raise DataError(f"{path}, line {number + 2}: expected '{number}<TAB><label>', got {line!r}.")
    return lines


def placeholder(task, rows, data_dir):
    """`rows` predictions of the training split's majority class (mean score for STS-B)."""
    try:
        labels = [example.label for example in load_split(task, "train", data_dir)] if data_dir else []
    except DataError:
        labels = []
    if task.is_regression:
        value = f"{float(np.mean(labels)) if labels else 2.5:.3f}"
    else:
        value = task.label_names[Counter(labels).most_common(1)[0][0] if labels else 0]
    return [HEADER] + [f"{index}\t{value}" for index in range(rows)]


def make_submission(output, backbone, seed, data_dir=None, name="", fill_missing=False, root=None):
    """Writes the GLUE submission zip of one backbone and seed.

    Args:
        output: The zip to write (atomically).
        backbone: Backbone folder label (`minilm`, `bert`, ...; see `TaskDir.locate`).
        seed: Data seed of the runs.
        data_dir: Upstream data (row counts and the placeholders' majority class); None = official counts.
        name: Run name of the prediction files when a task directory holds several.
        fill_missing: Fill missing tasks with a majority-class placeholder (with a warning) instead of failing.
        root: Folder holding the backbone folders.

    Returns:
        `{file stem: source path or "placeholder"}`.

    Raises:
        DataError: missing tasks (all listed in one message) or a malformed prediction file.
    """
    contents, sources, missing = {}, {}, []
    for stem, task, split in submission_entries():
        rows = expected_rows(stem, task, split, data_dir)
        path = find_prediction(TaskDir.locate(backbone, task.name, seed, root), split, name)
        if path is not None:
            contents[stem], sources[stem] = check_prediction(path, task, rows), path
        elif fill_missing:
            contents[stem], sources[stem] = placeholder(task, rows, data_dir), "placeholder"
            log.warning("%s: no predictions; filled with a majority-class placeholder (%d rows).", stem, rows)
        else:
            option = "" if split == "test" else f" --SPLIT={split}"
            missing.append(f"{stem} (run_files/run_glue_prediction.py --TASK={task.name}{option})")
    if missing:
        raise DataError(f"No predictions for {len(missing)} of {len(OFFICIAL_ROWS)} GLUE files: "
                        f"{'; '.join(missing)}. Run those, or pass --FILL_MISSING for majority-class placeholders.")
    with atomic_path(output, suffix=".zip") as temporary:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for stem, lines in contents.items():
                archive.writestr(f"{stem}.tsv", "\n".join(lines) + "\n")
    return sources


def _is_number(value):
    try:
        float(value)
    except ValueError:
        return False
    return True
