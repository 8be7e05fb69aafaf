"""The one table formatter and the one timing helper that every report and benchmark uses."""

from __future__ import annotations

import pytest

from fastsnn.benchmark import time_call, time_interleaved
from fastsnn.tables import format_table


def test_format_table_columns_widths_and_cells():
    rows = [{"name": "lif", "rate": 0.123456, "note": None}, {"name": "adaptive_threshold", "rate": 2.0}]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["name", "rate", "note"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["lif", "0.1235", "-"] and lines[3].split() == ["adaptive_threshold", "2"]
    assert lines[2].index("0.1235") == lines[0].index("rate") == len("adaptive_threshold") + 2
    assert all(line == line.rstrip() for line in lines)


def test_format_table_options():
    rows = [{"a": 1, "b": "x"}]
    assert format_table(rows, columns=["b"]) == "b\n-\nx"
    assert format_table(rows, rule=False, indent="  ").splitlines() == ["  a  b", "  1  x"]
    assert format_table([]) == "(nothing)" and format_table([], empty="none") == "none"


def test_time_interleaved_runs_each_call_round_robin():
    order: list[str] = []
    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    seconds = time_interleaved(calls, repeats=3, warmup=1)
    assert set(seconds) == {"a", "b"} and all(s >= 0 for s in seconds.values())
    assert order == ["a", "b"] + ["a", "b"] * 3  # warm-up of each, then one of each per round
    assert time_call(lambda: None, repeats=2) >= 0


@pytest.mark.parametrize(("kwargs", "message"), [({"repeats": 0}, "repeats must be"),
                                                  ({"repeats": 1, "warmup": -1}, "warmup"),
                                                  ({"repeats": 1, "statistic": "mean"}, "statistic")])
def test_time_interleaved_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        time_interleaved({"a": lambda: None}, **kwargs)
