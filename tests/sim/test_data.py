from itertools import accumulate

from pipulate.sim import data


def cumulative(org, project, slug):
    return list(accumulate(count for _, count in sorted(data.depth_counts(org, project, slug)
                                                        .items())))


def successes(org, project):
    return [item["slug"] for item in data.analyses(org, project) if item["status"] == "success"]


def test_required_projects_exist():
    for name in ("small-site", "big-site", "empty-site", "giant-home"):
        assert ("demo-org", name) in data.PROJECTS


def test_depth_counts_are_deterministic():
    slug = successes("demo-org", "small-site")[0]
    assert data.depth_counts("demo-org", "small-site", slug) == data.depth_counts(
        "demo-org", "small-site", slug)


def test_depth_counts_rise_then_fall_like_a_real_site():
    for org, project in data.PROJECTS:
        for slug in successes(org, project):
            counts = [count for _, count in sorted(data.depth_counts(org, project, slug).items())]
            peak = counts.index(max(counts))
            if project == "giant-home":
                assert peak == 0
                continue
            assert counts[0] <= counts[1] < counts[peak]
            assert counts[:peak + 1] == sorted(counts[:peak + 1])
            assert counts[peak:] == sorted(counts[peak:], reverse=True)


def test_small_site_has_a_few_thousand_urls_and_unfinished_analyses():
    items = data.analyses("demo-org", "small-site")
    assert len(successes("demo-org", "small-site")) > 2 * 10
    assert {item["status"] for item in items} - {"success"}
    for slug in successes("demo-org", "small-site"):
        assert 2_000 <= cumulative("demo-org", "small-site", slug)[-1] <= 10_000


def test_big_site_is_over_a_million_with_a_safe_depth_near_the_cap():
    for slug in successes("demo-org", "big-site"):
        totals = cumulative("demo-org", "big-site", slug)
        assert totals[-1] > 1_000_000
        safe = max(depth for depth, total in enumerate(totals) if total <= 1_000_000)
        assert 4 <= safe <= 6
        assert 850_000 <= totals[safe] <= 1_000_000


def test_giant_home_has_more_than_a_million_start_pages():
    for slug in successes("demo-org", "giant-home"):
        assert data.depth_counts("demo-org", "giant-home", slug)[0] > 1_000_000


def test_empty_site_has_no_finished_analysis():
    assert data.analyses("demo-org", "empty-site")
    assert successes("demo-org", "empty-site") == []


def test_analyses_are_newest_first_with_unique_slugs():
    for org, project in data.PROJECTS:
        items = data.analyses(org, project)
        slugs = [item["slug"] for item in items]
        assert len(set(slugs)) == len(slugs)
        launched = [item["date_launched"] for item in items]
        assert launched == sorted(launched, reverse=True)
