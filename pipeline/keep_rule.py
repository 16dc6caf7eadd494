"""Which AdapLeR checkpoint stage 3 keeps: fast, but not at the cost of accuracy.

After each epoch stage 3 scores candidates (the epoch's weights at an ETA scale, optionally with the
later layers scaled further) on the dev split. A candidate qualifies when its score is above the best
fine-tuned score minus `SCORE_TOLERANCE`. Among qualifying candidates, those whose FLOPs speedup is
within `SPEED_TOLERANCE` (relative) of the best speedup count as equally fast, and the most accurate
of them is kept: a speedup higher in the fourth decimal must not win over points of accuracy. If
nothing qualifies, the best-scoring candidate is kept.
"""

from dataclasses import dataclass

SCORE_TOLERANCE = 0.01
SPEED_TOLERANCE = 0.01


@dataclass(frozen=True)
class Candidate:
    """An epoch's weights (1-based `epoch`) with ETA times `eta_scale`, the later layers times `late_factor` more."""

    epoch: int
    eta_scale: float = 1.0
    late_factor: float = 1.0


@dataclass(frozen=True)
class Scored:
    """A candidate's dev score (the task's first metric) and FLOPs speedup."""

    candidate: Candidate
    score: float
    speedup: float


def _qualifying(records, floor):
    return [record for record in records if record.score > floor]


def _most_accurate(records):
    return max(records, key=lambda r: (r.score, r.speedup))


def contenders(records, floor, speed_tolerance=SPEED_TOLERANCE):
    """Records that later epochs cannot rule out (so their weights must be kept until the end).

    Later epochs only raise the best speedup, so a qualifying record out of the window now stays out.
    While nothing qualifies, the best-scoring record is the fallback.
    """
    qualifying = _qualifying(records, floor)
    if not qualifying:
        return [_most_accurate(records)]
    fastest = max(record.speedup for record in qualifying)
    return [record for record in qualifying if record.speedup >= fastest * (1 - speed_tolerance)]


def choose(records, floor, speed_tolerance=SPEED_TOLERANCE):
    """The record to keep.

    Args:
        records: `Scored` records of every candidate so far.
        floor: Scores must be above this (best fine-tuned score - `SCORE_TOLERANCE`).
        speed_tolerance: Relative speedup difference treated as a tie.

    Returns:
        `(record, qualified)`; `qualified` is False when nothing is above the floor.
    """
    return _most_accurate(contenders(records, floor, speed_tolerance)), bool(_qualifying(records, floor))


class Selection:
    """Stage 3's choice over the epochs so far, and which epochs' weights can still be chosen.

    Args:
        floor: The keep rule's floor (best fine-tuned score - `SCORE_TOLERANCE`).
    """

    def __init__(self, floor):
        self.floor = floor
        self.records = []
        self.kept = None

    def add(self, records):
        """Adds one epoch's scored candidates.

        Returns:
            `(changed, keep, drop)`: whether the choice changed, the epochs whose weights can still
            be chosen and the earlier epochs whose weights can go.
        """
        self.records.extend(records)
        chosen, _ = choose(self.records, self.floor)
        changed = chosen != self.kept
        self.kept = chosen
        keep = sorted({record.candidate.epoch for record in contenders(self.records, self.floor)})
        seen = {record.candidate.epoch for record in self.records}
        return changed, keep, sorted(seen - set(keep))

    @property
    def qualified(self):
        return choose(self.records, self.floor)[1] if self.records else False
