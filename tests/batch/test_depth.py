"""Depth registration: sticks found from the core mask, depths in reading order, gaps skipped not stretched."""
from __future__ import annotations

import numpy as np
import pytest

import hsimin
from hsimin import samples
from hsimin.batch.depth import find_sticks, register_depth
from hsimin.core.errors import InputError


def _vertical_tray(gap=None):
    """3 sticks down 100 lines: columns 2-9, 12-19, 22-29 (dividers between), core on lines 5-94."""
    m = np.zeros((100, 32), bool)
    for a in (2, 12, 22):
        m[5:95, a:a + 8] = True
    if gap is not None:
        stick, l0, l1 = gap
        a = (2, 12, 22)[stick]
        m[l0:l1, a:a + 8] = False
    return m


def test_sticks_down_the_lines_in_reading_order():
    sticks = find_sticks(_vertical_tray())
    assert [s.across for s in sticks] == [(2, 10), (12, 20), (22, 30)]
    assert all(s.runs_along == "lines" and s.along == (5, 95) for s in sticks)
    assert [s.index for s in sticks] == [0, 1, 2]


def test_sticks_across_the_lines_are_found_too():
    sticks = find_sticks(_vertical_tray().T.copy())
    assert [s.runs_along for s in sticks] == ["samples"] * 3
    assert [s.across for s in sticks] == [(2, 10), (12, 20), (22, 30)]


def test_depth_is_linear_along_concatenated_sticks():
    depth, sticks = register_depth(_vertical_tray(), 100.0, 103.0)
    # 3 sticks of 90 lines: 1 m each, pixel centres at (i + 0.5) / 90 m
    got = [v for s in sticks for v in (s.depth_from_m, s.depth_to_m)]
    assert got == pytest.approx([100, 101, 101, 102, 102, 103])
    assert depth[5, 2] == pytest.approx(100.0 + 0.5 / 90)
    assert depth[94, 9] == pytest.approx(101.0 - 0.5 / 90)
    assert depth[5, 12] == pytest.approx(101.0 + 0.5 / 90)
    assert np.all(np.isnan(depth[:, 10:12])) and np.all(np.isnan(depth[:5]))
    row = depth[5:95, 22]
    assert np.all(np.diff(row) > 0)


def test_gap_keeps_its_length_and_gets_no_depth():
    full, _ = register_depth(_vertical_tray(), 0.0, 3.0)
    gapped, sticks = register_depth(_vertical_tray(gap=(0, 40, 50)), 0.0, 3.0)
    assert np.all(np.isnan(gapped[40:50, 2:10]))
    core = ~np.isnan(gapped)
    np.testing.assert_allclose(gapped[core], full[core])  # core on either side is not stretched
    assert sticks[0].core_positions == 80 and sticks[0].length == 90


def test_gaps_close_shares_depth_over_core_only():
    depth, sticks = register_depth(_vertical_tray(gap=(0, 40, 50)), 0.0, 2.6, gaps="close")
    # 80 + 90 + 90 core lines over 2.6 m: 0.01 m per line; the gap takes none
    assert sticks[0].depth_to_m == pytest.approx(0.8)
    assert depth[39, 2] == pytest.approx(0.345)  # 35th core line (core starts at line 5)
    assert depth[50, 2] == pytest.approx(0.355)  # the next core line: no depth lost in the gap
    assert np.all(np.isnan(depth[40:50, 2:10]))


def test_reversed_order_reads_from_the_other_end():
    depth, sticks = register_depth(_vertical_tray(), 0.0, 3.0, order="reversed")
    assert [s.across for s in sticks] == [(22, 30), (12, 20), (2, 10)]
    assert depth[94, 29] == pytest.approx(0.5 / 90)
    assert depth[5, 2] == pytest.approx(3.0 - 0.5 / 90)


def test_per_stick_depths_override_the_tray_range():
    depth, sticks = register_depth(_vertical_tray(), 0.0, 3.0, stick_depths_m=[(10, 11), (11, 11.5), (20, 21)])
    assert sticks[2].depth_from_m == 20.0
    assert np.nanmax(depth[:, 12:20]) < 11.5 and np.nanmin(depth[:, 22:30]) > 20.0
    with pytest.raises(InputError, match="2 per-stick depth ranges .* 3 core sticks"):
        register_depth(_vertical_tray(), 0.0, 3.0, stick_depths_m=[(0, 1), (1, 2)])


def test_no_core_and_no_depth():
    empty = np.zeros((20, 20), bool)
    assert find_sticks(empty) == []
    depth, sticks = register_depth(empty, 0.0, 1.0)
    assert sticks == [] and np.all(np.isnan(depth))
    depth, sticks = register_depth(_vertical_tray(), None, None)
    assert len(sticks) == 3 and np.all(np.isnan(depth))


def test_small_debris_is_not_a_stick():
    m = _vertical_tray()
    m[50, 31] = True  # one stray pixel in the wall
    assert len(find_sticks(m)) == 3


def test_sample_tray_sticks_match_its_layout():
    """The bundled tray's README: sticks at columns 3-14, 18-29, 33-44, 48-59 running down lines 8-311."""
    truth = hsimin.open_map(samples.truth_path())
    core = truth.extra["core_fraction"] >= 0.5
    sticks = find_sticks(core)
    assert [s.across for s in sticks] == [(3, 15), (18, 30), (33, 45), (48, 60)]
    assert all(s.along == (8, 312) for s in sticks)
    depth, _ = register_depth(core, 100.0, 104.864)  # the header's range: 4 x 304 lines x 4 mm
    assert depth[8, 3] == pytest.approx(100.002)  # centre of the first 4 mm line
    assert np.nanmax(depth) == pytest.approx(104.862)
