import pytest

from pipulate.botify.urls import (
    InvalidProjectURL,
    ProjectRef,
    is_analysis_slug,
    is_slug,
    parse_project_url,
)

CANONICAL = "https://app.botify.com/demo-org/small-site/"


@pytest.mark.parametrize(
    ("text", "analysis"),
    [
        ("https://app.botify.com/demo-org/small-site/", None),
        ("https://app.botify.com/demo-org/small-site", None),
        (
            "https://app.botify.com/demo-org/small-site/crawl"
            "?analysisSlug=20250413&comparisonAnalysisSlug=20250330",
            "20250413",
        ),
        (
            "https://app.botify.com/demo-org/small-site/crawl/segments"
            "?context=%7B%7D&analysisSlug=20241103",
            "20241103",
        ),
        ("https://app.botify.com/demo-org/small-site/20250413/", "20250413"),
        ("https://app.botify.com/demo-org/small-site/20250413-2", "20250413-2"),
        ("https://app.botify.com/demo-org/small-site/keywords/overview?x=1", None),
        ("https://analyze.botify.com/demo-org/small-site/", None),
        ("http://app.botify.com/demo-org/small-site/", None),
        ("HTTPS://APP.BOTIFY.COM/demo-org/small-site/", None),
        ("app.botify.com/demo-org/small-site", None),
        ("//app.botify.com/demo-org/small-site/", None),
        ("  \thttps://app.botify.com/demo-org/small-site/ \n", None),
        ("https://app.botify.com/demo-org/small-site/#segments", None),
        ("https://app.botify.com/demo-org/small-site/?analysisSlug=20250413", "20250413"),
    ],
)
def test_accepts_every_url_form_in_the_contract(text, analysis):
    ref = parse_project_url(text)

    assert (ref.org, ref.project, ref.analysis) == ("demo-org", "small-site", analysis)
    assert ref.canonical_url == CANONICAL


def test_keeps_dots_and_underscores_in_slugs():
    ref = parse_project_url("https://app.botify.com/my_org.v2/site.example.com/")

    assert (ref.org, ref.project) == ("my_org.v2", "site.example.com")
    assert ref.canonical_url == "https://app.botify.com/my_org.v2/site.example.com/"


def test_query_analysis_wins_over_a_slug_shaped_path_part():
    ref = parse_project_url("https://app.botify.com/o/p/20250101/?analysisSlug=20250413")

    assert ref.analysis == "20250413"


@pytest.mark.parametrize(
    "query",
    ["analysisSlug=../../etc", "analysisSlug=2025041", "analysisSlug=20250413-", "analysisSlug="],
)
def test_ignores_a_malformed_analysis_slug(query):
    assert parse_project_url(f"https://app.botify.com/o/p/crawl?{query}").analysis is None


def test_takes_the_first_well_formed_of_repeated_analysis_slugs():
    url = "https://app.botify.com/o/p/?analysisSlug=bad&analysisSlug=20250413-3"

    assert parse_project_url(url).analysis == "20250413-3"


def test_a_path_part_not_shaped_like_an_analysis_names_none():
    assert parse_project_url("https://app.botify.com/o/p/crawl/20250413/").analysis is None


def test_a_percent_encoded_slug_is_decoded():
    assert parse_project_url("https://app.botify.com/demo%2Dorg/p/").org == "demo-org"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Paste a Botify project URL"),
        ("   \n ", "Paste a Botify project URL"),
        ("evil.com/org/proj", 'That URL is on "evil.com", not app.botify.com.'),
        ("https://evil.com/org/proj/", 'is on "evil.com"'),
        ("https://app.botify.com.evil.com/org/proj/", 'is on "app.botify.com.evil.com"'),
        ("https://evilapp.botify.com/org/proj/", 'is on "evilapp.botify.com"'),
        ("https://botify.com/org/proj/", 'is on "botify.com"'),
        ("https://app.botify.com./org/proj/", 'is on "app.botify.com."'),
        ("https://аpp.botify.com/org/proj/", "not app.botify.com"),
        ("https://app.botify.com/", "names no organisation or project"),
        ("app.botify.com", "names no organisation or project"),
        ("https://app.botify.com/demo-org", 'names the organisation "demo-org" but no project'),
        ("https://app.botify.com/demo-org/", "but no project"),
        ("https://app.botify.com/../proj/", 'has a ".." part'),
        ("https://app.botify.com/org/../", 'has a ".." part'),
        ("https://app.botify.com/org/./", 'has a "." part'),
        ("https://app.botify.com/org/proj/../../other/x/", 'has a ".." part'),
        ("https://app.botify.com/%2e%2e/proj/", 'has a ".." part'),
        ("https://app.botify.com/org/%2E/", 'has a "." part'),
        (
            "https://app.botify.com/org%2Fother/proj/",
            'hides a slash or backslash in its path part "org%2Fother"',
        ),
        ("https://app.botify.com/org/proj%2f..%2f..%2fx/", "hides a slash"),
        ("https://app.botify.com/org/proj/crawl%5C..", "hides a slash or backslash"),
        ("https://app.botify.com/org\\proj/", "backslash"),
        ("https:\\\\app.botify.com\\org\\proj", "backslash"),
        ("https://app.botify.com//org/proj/", "empty part (//)"),
        ("https://app.botify.com/org//proj/", "empty part (//)"),
        ("https://app.botify.com/org/proj//", "empty part (//)"),
        ("https://user:secret@app.botify.com/org/proj/", "login before the host"),
        ("https://app.botify.com@evil.com/org/proj/", "login before the host"),
        ("https://app.botify.com:8080/org/proj/", 'names a port (":8080")'),
        ("https://app.botify.com:443/org/proj/", 'names a port (":443")'),
        ("https://app.botify.com/org name/proj/", "space or a control character"),
        ("https://app.botify.com/org/pro\x00j/", "space or a control character"),
        ("https://app.botify.com/org/pr%00oj/", '"pr\\x00oj" is not a valid project name'),
        ("https://app.botify.com/org/pr%20oj/", '"pr oj" is not a valid project name'),
        ("https://app.botify.com/<script>/proj/", '"<script>" is not a valid organisation name'),
        ("https://app.botify.com/org/proj;x/", '"proj;x" is not a valid project name'),
        ("https://app.botify.com/org/pröj/", '"pröj" is not a valid project name'),
        ("https://app.botify.com/" + "o" * 101 + "/p/", "longer than 100 characters"),
        ("ftp://app.botify.com/org/proj/", "starts with ftp://"),
        ("javascript://app.botify.com/org/proj/", "starts with javascript://"),
        ("https://[::1]/org/proj/", 'is on "[::1]"'),
        ("https:///org/proj/", "names no host"),
        ("https:/app.botify.com/org/proj/", "broken scheme"),
        ("http:app.botify.com/org/proj/", "broken scheme"),
        ("https://app.botify.com/" + "a/" * 1100, "characters long"),
    ],
)
def test_refuses_hostile_or_broken_input_saying_why(text, says):
    with pytest.raises(InvalidProjectURL) as caught:
        parse_project_url(text)

    assert says in str(caught.value)


def test_the_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_project_url("https://evil.com/org/proj/")


def test_a_login_is_never_quoted_back():
    with pytest.raises(InvalidProjectURL) as caught:
        parse_project_url("https://me:hunter2@app.botify.com/org/proj/")

    assert "hunter2" not in str(caught.value)


def test_a_long_bad_part_is_shortened_in_the_message():
    with pytest.raises(InvalidProjectURL) as caught:
        parse_project_url("https://" + "x" * 500 + ".com/org/proj/")

    assert len(str(caught.value)) < 120


def test_very_long_input_is_refused_before_parsing():
    with pytest.raises(InvalidProjectURL, match="10,000 characters long"):
        parse_project_url("https://app.botify.com/o/p/?q=" + "x" * (10_000 - 30))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("demo-org", True),
        ("a.b_c-9", True),
        ("...", True),
        (".", False),
        ("..", False),
        ("", False),
        ("a/b", False),
        ("a b", False),
        ("é", False),
        ("x" * 100, True),
        ("x" * 101, False),
        (None, False),
    ],
)
def test_is_slug(value, expected):
    assert is_slug(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20250413", True),
        ("20250413-2", True),
        ("20250413-12", True),
        ("2025041", False),
        ("20250413-", False),
        ("20250413_2", False),
        ("٢٠٢٥٠٤١٣", False),
        ("20250413\n", False),
    ],
)
def test_is_analysis_slug(value, expected):
    assert is_analysis_slug(value) is expected


def test_project_ref_refuses_bad_parts_when_built_directly():
    with pytest.raises(InvalidProjectURL, match="not a valid organisation name"):
        ProjectRef("..", "proj")
    with pytest.raises(InvalidProjectURL, match="not an analysis slug"):
        ProjectRef("org", "proj", "../x")


def test_project_ref_is_immutable_and_comparable():
    ref = parse_project_url("app.botify.com/o/p/20250413")

    assert ref == ProjectRef("o", "p", "20250413")
    with pytest.raises(AttributeError):
        ref.org = "other"
