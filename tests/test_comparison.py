"""Reading the comparison: scores at matched speedups, the points that stand for them, AdapLeR minus a method."""

from analysis.comparison import accuracy_difference, comparison_table, matched_rows, nearest, same_finetuned, score_at

import pytest


def point(speedup, score, correct="1100"):
    return {"flops_speedup": speedup, "score": score, "correct": correct, "budget": speedup,
            "wallclock_b1": speedup / 2, "wallclock_b32": speedup / 1.5}


def test_score_at_interpolates_in_log_speedup_and_never_extrapolates():
    curve = [point(4.0, 0.70), point(1.0, 0.90)]
    assert score_at(curve, 2.0) == pytest.approx(0.80)  # halfway in log 1..4
    assert score_at(curve, 1.0) == pytest.approx(0.90)
    assert score_at(curve, 4.5) is None and score_at(curve, 0.9) is None


def test_nearest_takes_the_closest_point_within_a_factor_of_1_25():
    curve = [point(1.5, 0.8), point(2.4, 0.7), point(3.0, 0.6)]
    assert nearest(curve, 2.0)["flops_speedup"] == 2.4
    assert nearest(curve, 6.0) is None


def test_the_accuracy_difference_and_its_interval_come_from_the_same_examples():
    first, second = point(2, 0.75, "1110" * 50), point(2, 0.5, "1100" * 50)
    difference, (low, high) = accuracy_difference(first, second)
    assert difference == pytest.approx(0.25)
    assert low < 0.25 < high and low > 0  # every disagreement favours the first
    same, interval = accuracy_difference(first, first)
    assert same == 0 and interval == [0.0, 0.0]


def test_matched_rows_give_each_method_its_mean_and_range_and_adapler_minus_it_per_seed():
    result = {"methods": {
        "adapler": {"budget_flag": "ETA_SCALE", "per_seed": [
            {"seed": 1, "points": [point(1.0, 0.9, "1111"), point(4.0, 0.8, "1110")]},
            {"seed": 2, "points": [point(1.0, 0.9, "1111"), point(4.0, 0.6, "1100")]}]},
        "ltp": {"budget_flag": "LAMBDA", "per_seed": [
            {"seed": 1, "points": [point(1.0, 0.9, "1111"), point(2.1, 0.7, "1101")]},
            {"seed": 2, "points": [point(1.0, 0.9, "1111"), point(1.9, 0.5, "1000")]}]}}}
    rows = {(row["speedup"], row["method"]): row for row in matched_rows(result, [2.0, 4.0])}
    adapler = rows[(2.0, "adapler")]
    assert adapler["score_mean"] == pytest.approx(0.8) and adapler["score_range"] == pytest.approx([0.75, 0.85])
    assert rows[(4.0, "ltp")]["score_mean"] is None  # neither ltp curve reaches 4x
    assert rows[(2.0, "ltp")]["seeds"] == [1]  # seed 1's curve reaches 2.1x, seed 2's ends at 1.9x
    # AdapLeR has no point within 1.25x of 2x (1x and 4x), so no paired difference there; at 4x ltp has none.
    assert rows[(2.0, "ltp")]["vs_adapler"] == [] and rows[(4.0, "ltp")]["vs_adapler"] == []
    result["methods"]["adapler"]["per_seed"][0]["points"].append(point(2.0, 0.75, "1110"))
    rows = {(row["speedup"], row["method"]): row for row in matched_rows(result, [2.0])}
    (entry,) = rows[(2.0, "ltp")]["vs_adapler"]
    assert entry["seed"] == 1 and entry["difference"] == pytest.approx(0.0)
    result.update(task="sst2", max_length=64, metric="accuracy", recipe="r", seeds=[1, 2], machine="m", date="d",
                  command="c", finetuned=[{"seed": 1, "score": 0.9}], matched=matched_rows(result, [2.0]))
    table = comparison_table(result)
    assert "| 2x | AdapLeR | PoWER-BERT" not in table and "| 2x | LTP | 1 | 0.7500 at 2.00x | 0.7000 at 2.10x |" in table


def test_the_table_names_the_seeds_measured_so_far_among_those_asked_for():
    result = {"methods": {"adapler": {"budget_flag": "ETA_SCALE", "per_seed": [
        {"seed": 43, "points": [point(1.0, 0.9), point(2.0, 0.8)]}]}},
        "task": "sst2", "max_length": 64, "metric": "accuracy", "recipe": "r", "seeds": [42, 43, 44], "machine": "m",
        "date": "d", "command": "c", "finetuned": [{"seed": 43, "score": 0.9}]}
    result["matched"] = matched_rows(result, [1.5])
    assert "seeds measured 43 of 42, 43, 44;" in comparison_table(result)


def test_points_name_whether_they_started_from_one_fine_tuned_model():
    ours, theirs = dict(point(2, 0.75, "1110"), finetuned_model="a1"), dict(point(2, 0.5), finetuned_model="b2")
    older = point(2, 0.5)
    assert same_finetuned(ours, dict(theirs, finetuned_model="a1")) is True
    assert same_finetuned(ours, theirs) is False and same_finetuned(ours, older) is None
    result = {"methods": {"adapler": {"budget_flag": "ETA_SCALE", "per_seed": [{"seed": 1, "points": [ours]}]},
                          "ltp": {"budget_flag": "LAMBDA", "per_seed": [{"seed": 1, "points": [theirs]}]}},
              "task": "sst2", "max_length": 64, "metric": "accuracy", "recipe": "r", "seeds": [1], "machine": "m",
              "date": "d", "command": "c", "finetuned": [{"seed": 1, "score": 0.9}]}
    result["matched"] = matched_rows(result, [2.0])
    (row,) = [row for row in result["matched"] if row["method"] == "ltp"]
    assert row["vs_adapler"][0]["same_finetuned"] is False
    table = comparison_table(result)
    assert "| +25.0 (" in table and ") | no |" in table
    assert "| LTP | LAMBDA=2 | 1 | 0.5000 | 2.00x | 1.00x | 1.33x | b2 |" in table
