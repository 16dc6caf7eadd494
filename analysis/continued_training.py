"""The markdown table of `benchmarks/continued_finetuning.py`: the control and AdapLeR at each scale, per epoch."""


def table(result):
    """The results as markdown: the control's score and AdapLeR's at each scale, per epoch."""
    scales = [point["eta_scale"] for point in result["adapler"][0]["points"]]
    lines = [f"# Continued fine-tuning, {result['task']} at {result['max_length']}", "",
             f"- command: `{result['command']}`", f"- machine: {result['machine']}; date: {result['date']}", "",
             "| epoch | fine-tuned, nothing removed | " + " | ".join(f"AdapLeR, ETA x{s:g}" for s in scales) + " |",
             "|---|---|" + "---|" * len(scales)]
    rows = [(0, result["plain_start"], result["adapler_start"])] + [
        (plain["epoch"], plain["score"], adapler["points"]) for plain, adapler in zip(result["plain"],
                                                                                      result["adapler"])]
    for epoch, plain, points in rows:
        cells = [f"{p['score']:.4f} at {p['flops_speedup']:.2f}x" for p in points]
        lines.append(f"| {epoch} | {plain:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
