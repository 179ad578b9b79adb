"""The console's chart geometry and day labels (pure functions)."""

from __future__ import annotations

from datetime import date

from image_skill.service.console.views import CHART_HEIGHT, CHART_WIDTH, bars, days_back


def test_bars_scale_to_the_largest_and_stay_inside_the_chart() -> None:
    drawn = bars([("a", 0), ("b", 5), ("c", 10)])
    assert [bar.value for bar in drawn] == [0, 5, 10]
    assert drawn[0].height == 0 and drawn[1].height * 2 == drawn[2].height
    for bar in drawn:
        assert bar.x >= 0 and bar.x + bar.width <= CHART_WIDTH
        assert bar.y >= 0 and bar.y + bar.height <= CHART_HEIGHT
    assert drawn[0].x < drawn[1].x < drawn[2].x


def test_bars_of_nothing_spent_and_of_one_value() -> None:
    assert bars([]) == []
    assert all(bar.height == 0 for bar in bars([("a", 0), ("b", 0)]))
    [one] = bars([("only", 3)])
    assert one.width <= 64 and abs(one.x + one.width / 2 - CHART_WIDTH / 2) < 1


def test_days_back_ends_today_oldest_first() -> None:
    assert days_back(date(2026, 3, 1), 3) == ["2026-02-27", "2026-02-28", "2026-03-01"]
