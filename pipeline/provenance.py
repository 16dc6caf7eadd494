"""Where and how a result was measured: the machine, the command line and the date, recorded with it."""

import datetime
import os
import platform

from pipeline.paths import REPO

import tensorflow as tf


def cpu_model():
    """The processor's name and widest vector extension (AVX-512 and AVX2 machines time differently)."""
    try:
        with open("/proc/cpuinfo") as handle:
            info = handle.read()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name or 'unknown CPU'} ({vector})"


def machine():
    """The machine line recorded with every result."""
    return (f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}")


def command_line(argv):
    """`python <argv>` with paths written relative to the repository, so results carry no machine's paths."""
    def relative(word):
        flag, equals, value = word.partition("=") if word.startswith("--") else ("", "", word)
        if os.path.isabs(value):
            value = os.path.relpath(value, REPO)
        return f"{flag}{equals}{value}"

    return " ".join(["python"] + [relative(word) for word in argv])


def today():
    return datetime.date.today().isoformat()
