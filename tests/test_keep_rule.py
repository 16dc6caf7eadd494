"""Stage 3's choice of epoch: the fastest within tolerance, then the most accurate."""

import pytest

from pipeline.keep_rule import choose_epoch, contenders


def test_equal_speedups_do_not_beat_six_points_of_accuracy():
    # Seen on a 240-example slice: both epochs at 0.993x, epoch 2 six points worse.
    records = [(1, 0.60, 0.9925), (2, 0.635, 0.9931), (3, 0.64, 0.9929), (4, 0.65, 0.9928), (5, 0.698, 0.9930)]
    assert choose_epoch(records, floor=0.6) == (5, True)


@pytest.mark.parametrize("records,floor,expected", [
    ([(1, 0.85, 1.5), (2, 0.84, 2.0), (3, 0.80, 2.5)], 0.83, (2, True)),   # epoch 3 is below the floor
    ([(1, 0.85, 1.98), (2, 0.84, 2.0)], 0.83, (1, True)),                  # within 1%: the more accurate
    ([(1, 0.85, 1.97), (2, 0.84, 2.0)], 0.83, (2, True)),                  # 1.5% slower: the faster
    ([(1, 0.70, 3.0), (2, 0.75, 2.0)], 0.83, (2, False)),                  # none qualifies: best score
])
def test_choose_epoch(records, floor, expected):
    assert choose_epoch(records, floor) == expected


def test_contenders_keep_every_epoch_a_later_one_could_still_make_the_choice():
    records = [(1, 0.85, 1.00), (2, 0.80, 1.009)]
    assert choose_epoch(records, 0.7)[0] == 1
    assert [r[0] for r in contenders(records, 0.7)] == [1, 2]
    # A faster but worse third epoch pushes epoch 1 out of the window and makes epoch 2 the choice.
    records.append((3, 0.71, 1.015))
    assert [r[0] for r in contenders(records, 0.7)] == [2, 3]
    assert choose_epoch(records, 0.7)[0] == 2


def test_epoch_and_eta_scale_pairs_compete_alike():
    records = [((1, 0.8), 0.84, 1.6), ((1, 1.0), 0.80, 2.1), ((2, 0.8), 0.835, 1.85), ((2, 1.0), 0.81, 2.2)]
    assert choose_epoch(records, floor=0.83) == ((2, 0.8), True)
    assert {key[0] for key, _, _ in contenders(records, 0.83)} == {2}
