"""Stage 3's choice of checkpoint: the fastest within tolerance, then the most accurate; and the epochs it keeps."""

import pickle

from pipeline.keep_rule import Candidate, Scored, Selection, choose, contenders

import pytest


def scored(epoch, score, speedup, scale=1.0, factor=1.0):
    return Scored(Candidate(epoch, scale, factor), score, speedup)


def test_equal_speedups_do_not_beat_six_points_of_accuracy():
    # Seen on a 240-example slice: both epochs at 0.993x, epoch 2 six points worse.
    records = [scored(1, 0.60, 0.9925), scored(2, 0.635, 0.9931), scored(3, 0.64, 0.9929), scored(4, 0.65, 0.9928),
               scored(5, 0.698, 0.9930)]
    chosen, qualified = choose(records, floor=0.6)
    assert chosen.candidate.epoch == 5 and qualified


@pytest.mark.parametrize("records,floor,epoch,qualified", [
    ([scored(1, 0.85, 1.5), scored(2, 0.84, 2.0), scored(3, 0.80, 2.5)], 0.83, 2, True),  # 3 is below the floor
    ([scored(1, 0.85, 1.98), scored(2, 0.84, 2.0)], 0.83, 1, True),                      # within 1%: more accurate
    ([scored(1, 0.85, 1.97), scored(2, 0.84, 2.0)], 0.83, 2, True),                      # 1.5% slower: the faster
    ([scored(1, 0.70, 3.0), scored(2, 0.75, 2.0)], 0.83, 2, False),                      # none qualifies: best score
])
def test_choose(records, floor, epoch, qualified):
    chosen, did_qualify = choose(records, floor)
    assert (chosen.candidate.epoch, did_qualify) == (epoch, qualified)


def test_contenders_keep_every_epoch_a_later_one_could_still_make_the_choice():
    records = [scored(1, 0.85, 1.00), scored(2, 0.80, 1.009)]
    assert choose(records, 0.7)[0].candidate.epoch == 1
    assert [r.candidate.epoch for r in contenders(records, 0.7)] == [1, 2]
    # A faster but worse third epoch pushes epoch 1 out of the window and makes epoch 2 the choice.
    records.append(scored(3, 0.71, 1.015))
    assert [r.candidate.epoch for r in contenders(records, 0.7)] == [2, 3]
    assert choose(records, 0.7)[0].candidate.epoch == 2


def test_epochs_and_eta_scales_compete_alike():
    records = [scored(1, 0.84, 1.6, 0.8), scored(1, 0.80, 2.1), scored(2, 0.835, 1.85, 0.8), scored(2, 0.81, 2.2)]
    chosen, qualified = choose(records, floor=0.83)
    assert chosen.candidate == Candidate(2, 0.8, 1.0) and qualified
    assert {r.candidate.epoch for r in contenders(records, 0.83)} == {2}


def test_a_selection_keeps_the_weights_of_every_epoch_that_can_still_win_and_drops_the_rest():
    selection = Selection(floor=0.7)
    assert selection.add([scored(1, 0.85, 1.00)]) == (True, [1], [])
    # Epoch 2 is within 1% of epoch 1's speed but less accurate: epoch 1 stays the choice, both may still win.
    assert selection.add([scored(2, 0.80, 1.009)]) == (False, [1, 2], [])
    assert selection.kept.candidate.epoch == 1
    # Epoch 3 pushes epoch 1 out of the window for good: its weights can go, epoch 2 is the new choice.
    assert selection.add([scored(3, 0.71, 1.015)]) == (True, [2, 3], [1])
    assert selection.kept == scored(2, 0.80, 1.009) and selection.qualified


def test_a_selection_with_nothing_qualifying_keeps_the_best_scoring_record_and_says_so():
    selection = Selection(floor=0.9)
    changed, keep, drop = selection.add([scored(1, 0.80, 2.0, 0.5), scored(1, 0.85, 1.5, 1.0)])
    assert changed and keep == [1] and drop == []
    assert selection.kept.candidate == Candidate(1, 1.0, 1.0) and not selection.qualified


def test_a_selection_survives_a_resume():
    selection = Selection(floor=0.7)
    selection.add([scored(1, 0.85, 1.2, 0.8, 2.0)])
    restored = pickle.loads(pickle.dumps(selection))
    assert restored.kept == selection.kept and restored.records == selection.records
    assert restored.add([scored(2, 0.86, 1.3)]) == (True, [2], [1])
