import pytest

from pipulate.botify.depth import DepthPlan, DepthRow, plan_depth


def test_running_totals_and_the_deepest_depth_under_the_cap():
    plan = plan_depth({0: 1, 1: 50, 2: 400, 3: 600}, cap=500)

    assert plan.rows == (
        DepthRow(0, 1, 1),
        DepthRow(1, 50, 51),
        DepthRow(2, 400, 451),
        DepthRow(3, 600, 1051),
    )
    assert plan.safe_depth == 2
    assert plan.allowed_depths == [0, 1, 2]
    assert (plan.cap, plan.total, plan.safe_count) == (500, 1051, 451)


def test_a_total_exactly_at_the_cap_is_allowed():
    plan = plan_depth({0: 1, 1: 99, 2: 899_900, 3: 100_000, 4: 1})

    assert plan.safe_depth == 3
    assert plan.safe_count == 1_000_000


def test_one_row_over_the_cap_is_not_allowed():
    assert plan_depth({0: 1, 1: 1_000_000}).safe_depth == 0


def test_the_whole_site_fits_when_the_cap_is_never_reached():
    plan = plan_depth({0: 1, 1: 10, 2: 100})

    assert plan.safe_depth == 2
    assert plan.allowed_depths == [0, 1, 2]
    assert plan.reason == (
        "All 111 URLs, down to depth 2, fit within the 1,000,000 rows one export can hold."
    )


def test_no_safe_depth_when_depth_zero_alone_is_over_the_cap():
    plan = plan_depth({0: 1_234_567, 1: 5})

    assert plan.safe_depth is None
    assert plan.allowed_depths == []
    assert plan.safe_count is None
    assert plan.reason == (
        "Depth 0 alone holds 1,234,567 URLs, more than the 1,000,000 rows one export can hold."
    )


def test_the_reason_names_the_depth_that_would_overflow():
    plan = plan_depth({0: 1, 1: 600_000, 2: 300_000, 3: 200_000})

    assert plan.reason == (
        "Depths 0 to 2 hold 900,001 URLs; adding depth 3 would make 1,100,001, "
        "more than the 1,000,000 rows one export can hold."
    )


def test_gaps_use_only_the_depths_present():
    plan = plan_depth({0: 10, 1: 20, 2: 30, 5: 40, 9: 1}, cap=100)

    assert [row.depth for row in plan.rows] == [0, 1, 2, 5, 9]
    assert plan.safe_depth == 5
    assert plan.allowed_depths == [0, 1, 2, 5]
    assert plan.reason.startswith("Depths 0 to 5 hold 100 URLs; adding depth 9 would make 101")


def test_totals_start_at_the_first_depth_present_when_depth_zero_is_missing():
    plan = plan_depth({2: 5, 1: 7}, cap=10)

    assert plan.rows == (DepthRow(1, 7, 7), DepthRow(2, 5, 12))
    assert plan.safe_depth == 1

    over = plan_depth({1: 11, 2: 1}, cap=10)
    assert over.safe_depth is None
    assert over.reason.startswith("Depth 1 alone holds 11 URLs")


def test_non_integer_and_negative_depths_are_skipped():
    counts = [
        (None, 1000),
        ("3a", 1000),
        (2.5, 1000),
        (True, 1000),
        (float("nan"), 1000),
        (float("inf"), 1000),
        (-1, 1000),
        ("-1", 1000),
        ("٣", 1000),
        ([1], 1000),
        (0, 1),
        (1, 2),
    ]

    plan = plan_depth(counts, cap=10)

    assert plan.rows == (DepthRow(0, 1, 1), DepthRow(1, 2, 3))
    assert plan.total == 3


def test_integral_floats_and_digit_strings_count_as_depths():
    plan = plan_depth([(0, 1), (1.0, 2), ("2", 3), (" 3 ", 4.0), (4, "5")])

    assert [(row.depth, row.count) for row in plan.rows] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


def test_a_repeated_depth_has_its_counts_summed():
    plan = plan_depth([(0, 1), (1, 2), (1, 3), ("1", 4)])

    assert plan.rows == (DepthRow(0, 1, 1), DepthRow(1, 9, 10))


def test_zero_counts_are_kept():
    plan = plan_depth({0: 0, 1: 0}, cap=1)

    assert plan.rows == (DepthRow(0, 0, 0), DepthRow(1, 0, 0))
    assert plan.safe_depth == 1


@pytest.mark.parametrize("counts", [{}, [], iter([]), [(None, 5)]])
def test_no_rows_means_no_safe_depth(counts):
    plan = plan_depth(counts)

    assert plan == DepthPlan((), None, 1_000_000, 0)
    assert plan.allowed_depths == []
    assert (
        plan.reason == "The crawl reported no URL counts by depth, so there is nothing to export."
    )


@pytest.mark.parametrize("count", [None, -1, 2.5, "x", "1e3", True])
def test_a_bad_count_is_refused_rather_than_understated(count):
    with pytest.raises(ValueError, match="Depth 1 has"):
        plan_depth({0: 1, 1: count})


@pytest.mark.parametrize("cap", [0, -5, 1.5, True, "100"])
def test_a_bad_cap_is_refused(cap):
    with pytest.raises(ValueError, match="row cap"):
        plan_depth({0: 1}, cap=cap)


def test_count_through_sums_the_depths_at_or_above():
    plan = plan_depth({0: 1, 1: 2, 3: 4})

    assert [plan.count_through(depth) for depth in range(5)] == [1, 3, 3, 7, 7]
