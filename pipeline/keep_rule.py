"""Which AdapLeR epoch stage 3 keeps: fast, but not at the cost of accuracy.

An epoch qualifies when its dev score is above the best fine-tuned score minus `SCORE_TOLERANCE`.
Among qualifying epochs, those whose FLOPs speedup is within `SPEED_TOLERANCE` (relative) of the
best speedup are treated as equally fast, and the most accurate of them is kept: a speedup that
is higher in the fourth decimal must not win over several points of accuracy. If no epoch
qualifies, the best-scoring one is kept.
"""

SCORE_TOLERANCE = 0.01
SPEED_TOLERANCE = 0.01


def _qualifying(records, floor):
    return [record for record in records if record[1] > floor]


def choose_epoch(records, floor, speed_tolerance=SPEED_TOLERANCE):
    """The epoch to keep.

    Args:
        records: `(epoch, score, speedup)` of every epoch so far.
        floor: Scores must be above this (best fine-tuned score - `SCORE_TOLERANCE`).
        speed_tolerance: Relative speedup difference treated as a tie.

    Returns:
        `(epoch, qualified)`; `qualified` is False when no epoch is above the floor.
    """
    qualifying = _qualifying(records, floor)
    if not qualifying:
        return max(records, key=lambda r: (r[1], r[2]))[0], False
    return max(contenders(records, floor, speed_tolerance), key=lambda r: (r[1], r[2]))[0], True


def contenders(records, floor, speed_tolerance=SPEED_TOLERANCE):
    """Records that later epochs cannot rule out (so their weights must be kept until the end).

    Later epochs only raise the best speedup, so a qualifying epoch out of the window now stays out.
    While nothing qualifies, the best-scoring epoch is the fallback.
    """
    qualifying = _qualifying(records, floor)
    if not qualifying:
        return [max(records, key=lambda r: (r[1], r[2]))]
    fastest = max(record[2] for record in qualifying)
    return [record for record in qualifying if record[2] >= fastest * (1 - speed_tolerance)]
