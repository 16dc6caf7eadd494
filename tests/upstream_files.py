"""Small data files in the upstream layouts of data sets we have no copy of."""

import json


def _hatexplain_post(post_id, labels, tokens, rationales=()):
    return {"post_id": post_id, "post_tokens": tokens, "rationales": [list(r) for r in rationales],
            "annotators": [{"label": label, "annotator_id": i, "target": ["None"]} for i, label in enumerate(labels)]}


def write_hatexplain(root):
    """Six posts in the upstream layout: majorities of each class, a three-way tie, rationales."""
    posts = [
        _hatexplain_post("p1_twitter", ["hatespeech", "hatespeech", "offensive"], ["they", "are", "vermin"],
                         [(0, 0, 1), (0, 1, 1), (0, 0, 1)]),
        _hatexplain_post("p2_gab", ["normal", "normal", "offensive"], ["nice", "day"], [(1, 0)]),
        _hatexplain_post("p3_gab", ["offensive", "hatespeech", "normal"], ["a", "tie", "here"], [(0, 1, 0)]),
        _hatexplain_post("p4_twitter", ["offensive", "offensive", "normal"], ["shut", "up", "idiot"],
                         [(1, 1, 1), (0, 0, 1)]),
        _hatexplain_post("p5_twitter", ["normal", "normal", "normal"], ["hello", "world"]),
        _hatexplain_post("p6_gab", ["hatespeech", "offensive", "hatespeech"], ["go", "away"], [(1, 1), (0, 1)]),
    ]
    folder = root / "hatexplain"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps({p["post_id"]: p for p in posts}))
    divisions = {"train": ["p1_twitter", "p2_gab", "p3_gab", "p4_twitter"], "val": ["p5_twitter", "p3_gab"],
                 "test": ["p6_gab", "p3_gab"]}
    (folder / "post_id_divisions.json").write_text(json.dumps(divisions))
    return str(root)
