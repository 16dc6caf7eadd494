"""HateXplain in its upstream layout: `dataset.json` and `post_id_divisions.json`.

Each post has three annotators, each labelling it `hatespeech`, `offensive` or `normal`; the
post's label is their majority. When all three disagree there is no majority: the upstream
dataset drops such posts as undecided (`tie_rule="drop"`, the default here), while the original
AdapLeR code took `max(set(labels), key=labels.count)`, which for HuggingFace's label ids
(hatespeech 0, normal 1, offensive 2) iterates the set in id order and so picks `hatespeech`
(`tie_rule="original"`).
"""

import json
import logging
import os
from collections import Counter

from tasks.readers import DataError, Example, require_file

import numpy as np

# HuggingFace's ids, which the original code and its checkpoints use.
LABELS = ("hatespeech", "normal", "offensive")
TIE_RULES = ("drop", "original")
DIVISIONS = {"train": "train", "validation": "val", "test": "test"}
log = logging.getLogger(__name__)


def top_labels(annotator_labels):
    """The label ids given most often, in id order (more than one: no majority)."""
    counts = Counter(annotator_labels)
    return sorted(label for label, count in counts.items() if count == max(counts.values()))


def majority_label(annotator_labels, tie_rule="drop"):
    """The label id most annotators gave, or None for a tie dropped under `tie_rule="drop"`.

    Args:
        annotator_labels: Label ids, one per annotator.
        tie_rule: `drop` (upstream) or `original` (the lowest tied id, as the original code's set order).

    Returns:
        A label id, or None.
    """
    top = top_labels(annotator_labels)
    return top[0] if len(top) == 1 or tie_rule == "original" else None


def rationale_mask(rationales, length):
    """Token rationale of a post: tokens marked by at least half of the annotators who gave one."""
    if not rationales:
        return np.zeros(length, np.int8)
    sizes = sorted({len(marks) for marks in rationales})
    if sizes != [length]:
        raise DataError(f"rationales of lengths {sizes} for {length} tokens")
    return (np.asarray(rationales, np.float64).mean(axis=0) >= 0.5).astype(np.int8)


def posts(data_dir, split, tie_rule="drop"):
    """`(post_id, tokens, label id, rationale mask)` of every decided post of a split, in division order.

    Args:
        data_dir: Folder with `hatexplain/dataset.json` and `hatexplain/post_id_divisions.json`.
        split: `train`, `validation` or `test`.
        tie_rule: See `majority_label`.

    Returns:
        List of tuples; logs how many posts the tie rule dropped or decided.
    """
    if tie_rule not in TIE_RULES:
        raise DataError(f"Unknown HateXplain tie rule {tie_rule!r}; use one of {', '.join(TIE_RULES)}.")
    folder = os.path.join(data_dir, "hatexplain")
    dataset_path, ids_path = (os.path.join(folder, name) for name in ("dataset.json", "post_id_divisions.json"))
    dataset, divisions = _read_json(dataset_path), _read_json(ids_path)
    if DIVISIONS[split] not in divisions:
        raise DataError(f"{ids_path}: no {DIVISIONS[split]!r} list of post ids.")
    out, ties = [], 0
    for post_id in divisions[DIVISIONS[split]]:
        where = f"{dataset_path}, post {post_id}"
        try:
            post = dataset[post_id]
            tokens = [str(token) for token in post["post_tokens"]]
            given = [annotator["label"] for annotator in post["annotators"]]
            mask = rationale_mask(post.get("rationales") or [], len(tokens))
        except KeyError as missing:
            raise DataError(f"{where}: missing {missing}.") from None
        except DataError as error:
            raise DataError(f"{where}: {error}.") from None
        unknown = sorted(set(given) - set(LABELS))
        if unknown:
            raise DataError(f"{where}: labels {unknown} (expected {', '.join(LABELS)}).")
        votes = [LABELS.index(label) for label in given]
        if not tokens or not votes:
            raise DataError(f"{where}: no tokens or no annotators.")
        ties += len(top_labels(votes)) > 1
        label = majority_label(votes, tie_rule)
        if label is not None:
            out.append((post_id, tokens, label, mask))
    action = "dropped as undecided" if tie_rule == "drop" else "labelled hatespeech as the original code did"
    log.info("hatexplain %s: %d of %d posts have no majority label; %s (tie rule %r).", split, ties,
             len(divisions[DIVISIONS[split]]), action, tie_rule)
    return out


def read_hatexplain(data_dir, split, tie_rule="drop"):
    """HateXplain posts as `Example`s: the joined `post_tokens` and the majority label."""
    return [Example(" ".join(tokens), None, label) for _, tokens, label, _ in posts(data_dir, split, tie_rule)]


def _read_json(path):
    with open(require_file(path), encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise DataError(f"{path} is not valid JSON ({error}).") from None
