"""Matplotlib without a screen, figures written atomically, and the speedup axis every plot shares."""

import matplotlib

matplotlib.use("Agg")
from pipeline.atomic import atomic_path  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)
from matplotlib import ticker  # noqa: E402


def save_figure(figure, path, dpi=110):
    """Writes `figure` to `path` (PNG, written beside it and renamed) and closes it."""
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=dpi)
    plt.close(figure)


def speedup_axis(axis, label):
    """A logarithmic x axis with ticks 1x, 2x, 5x, 10x...: scaling a threshold multiplies the speedup, and on a
    linear axis every useful point would sit against 1x."""
    axis.set_xscale("log")
    axis.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}x"))
    axis.xaxis.set_minor_formatter(ticker.NullFormatter())
    axis.set_xlabel(label)
    axis.grid(alpha=0.3)
