"""pack_pairs (first-fit-decreasing): every pair placed once, capacity respected, deterministic,
better than first-fit in input order on a hand case; pair_length's per-side cut; PackingStats."""
from __future__ import annotations

import random

import pytest

from nemo_drift.data.packing import PackingStats, pack_pairs, pair_length


def _first_fit_in_input_order(lengths: list[int], capacity: int) -> list[list[int]]:
    rows: list[list[int]] = []
    for i, n in enumerate(lengths):
        row = next((r for r in rows if sum(lengths[j] for j in r) + n <= capacity), None)
        if row is None:
            rows.append(row := [])
        row.append(i)
    return rows


def _check_invariants(rows: list[list[int]], lengths: list[int], capacity: int) -> None:
    placed = sorted(i for row in rows for i in row)
    assert placed == list(range(len(lengths))), "every index exactly once"
    assert all(row for row in rows), "no empty row"
    assert all(sum(lengths[i] for i in row) <= capacity for row in rows), "capacity respected"
    for row in rows:  # placement order inside a row: longest first, ties by input position
        keys = [(-lengths[i], i) for i in row]
        assert keys == sorted(keys)


def test_pair_length_cuts_each_side_to_seq_length():
    assert pair_length(3, 4, 2, seq_length=16) == 7 + 5
    assert pair_length(3, 20, 2, seq_length=16) == 16 + 5
    assert pair_length(0, 5, 1, seq_length=4) == 4 + 1
    with pytest.raises(ValueError, match="chosen -1"):
        pair_length(3, -1, 2, seq_length=16)


def test_ffd_beats_first_fit_in_input_order():
    lengths, capacity = [4, 4, 6, 6], 10
    assert len(_first_fit_in_input_order(lengths, capacity)) == 3  # 4+4 | 6 | 6
    rows = pack_pairs(lengths, capacity)
    assert rows == [[2, 0], [3, 1]]  # 6+4 | 6+4: optimal, 20 tokens need 2 rows of 10
    _check_invariants(rows, lengths, capacity)


def test_ties_keep_input_order_and_result_is_deterministic():
    lengths = [5, 3, 5, 3, 5, 3]
    rows = pack_pairs(lengths, 8)
    assert rows == [[0, 1], [2, 3], [4, 5]]
    assert pack_pairs(list(lengths), 8) == rows
    assert pack_pairs([], 8) == []


@pytest.mark.parametrize("lengths, capacity, message", [
    ([3, 11, 2], 10, r"pair 1: length 11 tokens .*capacity 10"),
    ([3, 0], 10, r"pair 1: length 0 tokens .*capacity 10"),
    ([3], 0, r"capacity must be at least 1 token, got 0"),
])
def test_errors_name_the_pair_and_numbers(lengths, capacity, message):
    with pytest.raises(ValueError, match=message):
        pack_pairs(lengths, capacity)


def test_random_lengths_keep_the_invariants():
    rng = random.Random(15)
    for _ in range(300):
        capacity = rng.randint(1, 64)
        lengths = [min(capacity, max(1, int(rng.paretovariate(1.2) * 3))) for _ in range(rng.randint(0, 40))]
        rows = pack_pairs(lengths, capacity)
        _check_invariants(rows, lengths, capacity)
        assert len(rows) >= -(-sum(lengths) // capacity)  # never below the volume bound
        first_fit = len(_first_fit_in_input_order(lengths, capacity))  # >= OPT
        assert 9 * len(rows) <= 11 * first_fit + 6  # FFD <= 11/9 OPT + 6/9 (Dosa 2007)
        assert pack_pairs(lengths, capacity) == rows


def test_invariant_check_can_fail():
    lengths = [4, 4, 6, 6]
    with pytest.raises(AssertionError, match="capacity"):
        _check_invariants([[0, 2, 3], [1]], lengths, 10)
    with pytest.raises(AssertionError, match="exactly once"):
        _check_invariants([[2, 0], [3, 0]], lengths, 10)


def test_packing_stats():
    lengths = [4, 4, 6, 6]
    rows = pack_pairs(lengths, 10)
    exact = PackingStats.from_rows(rows, lengths)
    assert (exact.rows, exact.real_tokens, exact.row_tokens, exact.efficiency) == (2, 20, 20, 1.0)
    rounded = PackingStats.from_rows(rows, lengths, row_length=lambda n: -(-n // 8) * 8)
    assert (rounded.row_tokens, rounded.efficiency) == (32, 20 / 32)
    fixed = PackingStats.from_rows(rows, lengths, row_length=lambda n: 16)
    assert fixed.efficiency == 20 / 32
    assert PackingStats.from_rows([], []).efficiency == 1.0
