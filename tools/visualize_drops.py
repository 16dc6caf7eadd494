"""Which tokens survive which layer: heat maps of CP scores with removed tokens greyed out.

    python tools/visualize_drops.py --RECIPE=quickstart --TEXT="a gorgeous, witty film"
    python tools/visualize_drops.py --RECIPE=quickstart --DEV_EXAMPLES=3   # three dev examples of typical length

Uses the task directory's AdapLeR checkpoint (or --MODEL_PATH) with hard removal. Without --OUTPUT the
figure goes to the task directory's `logs/token_drops_<name>.png`.
"""

import os

from analysis.plotting import plt, save_figure
from analysis.token_drops import drop_map, plot_drops, typical_examples
from pipeline import cli
from pipeline.flags import FLAGS, define_adapler_name_flags, define_common_flags
from tasks.readers import DataError
from tasks.registry import load_split

from absl import flags

flags.DEFINE_string("TEXT", None, "Text to analyse (or use --DEV_EXAMPLES).")
flags.DEFINE_string("TEXT_B", None, "Second text, for pair tasks.")
flags.DEFINE_integer("DEV_EXAMPLES", 0, "Draw this many dev examples of typical length instead of --TEXT.",
                     lower_bound=0)
flags.DEFINE_string("MODEL_PATH", "", "AdapLeR checkpoint; empty = the task directory's default.")
flags.DEFINE_string("OUTPUT", "", "PNG to write; empty = logs/token_drops_<name>.png in the task directory.")
define_adapler_name_flags()
define_common_flags()


def texts(task, tok):
    """`[(text, text_b, title)]` to draw."""
    if FLAGS.DEV_EXAMPLES:
        split = task.dev_splits[0]
        examples = load_split(task, split, FLAGS.DATA_DIR or None, seed=FLAGS.DATA_SEED, tie_rule=FLAGS.HATEXPLAIN_TIES)
        chosen = typical_examples(cli.encoded(task, split, tok), FLAGS.DEV_EXAMPLES)

        def label(example):
            return task.label_names[int(example.label)] if task.label_names else f"{example.label:g}"

        return [(examples[i].text_a, examples[i].text_b, f"{split} example {i} (label {label(examples[i])})")
                for i in chosen]
    if not FLAGS.TEXT or not FLAGS.TEXT.strip():
        raise DataError("Give --TEXT (not empty) or --DEV_EXAMPLES.")
    return [(FLAGS.TEXT, FLAGS.TEXT_B, "")]


def main(argv):
    del argv
    task = cli.task()
    dirs = cli.task_dir().require()
    model, _ = cli.trained_model(task, dirs, lr_model=True)
    tok = cli.tokenizer()
    drawn = []
    for text, text_b, title in texts(task, tok):
        encoded = tok(text, text_b, truncation=True, max_length=FLAGS.MAX_LENGTH, return_tensors="tf")
        tokens = tok.convert_ids_to_tokens(encoded["input_ids"][0].numpy())
        drawn.append((tokens, *drop_map(model, encoded), title))
    width = max(6, 0.3 * max(len(tokens) for tokens, *_ in drawn))
    figure, axes = plt.subplots(len(drawn), 1, figsize=(width, sum(0.4 * len(s) + 1.6 for _, s, _, _ in drawn)),
                                squeeze=False)
    for axis, (tokens, scores, lengths, title) in zip(axes[:, 0], drawn):
        image = plot_drops(axis, tokens, scores, lengths, title)
        figure.colorbar(image, ax=axis, fraction=0.03)
    figure.suptitle("CP score of each token before each layer (grey: removed earlier; n: tokens the layer runs on)",
                    fontsize=10)
    output = FLAGS.OUTPUT or dirs.log(f"token_drops_{cli.adapler_name(dirs)}.png")
    save_figure(figure, output)
    for tokens, _, lengths, title in drawn:
        print(f"{title or 'text'}: {len(tokens)} tokens, lengths per layer {lengths}")
    print(f"token drops plot: {os.path.relpath(output)}", flush=True)


if __name__ == "__main__":
    cli.run(main)
