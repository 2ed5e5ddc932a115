"""Feedback pictures (autograder.reports.figures) and the instructor summary page (autograder.reports.summary)."""
from __future__ import annotations

import base64
import io
import math
import re
from html.parser import HTMLParser

import pytest

from autograder import PART_IDS
from autograder.reports import figures
from autograder.reports.feedback import feedback_html
from autograder.reports.summary import pass_rates, summary_html
from autograder.results import PartResult, StudentResult, part_result
from autograder.results import TestResult as GradedTest  # not collected as a test class

HOSTILE = "<script>alert(1)</script> $\\frac{1}{0$ &amp; \x00\x1b[31m"
STD = {"activation": "ReLU, 10 layers", "series": [
    {"label": f"scale {s}", "student": [s ** i for i in range(1, 11)], "reference": [s ** i for i in range(1, 11)]}
    for s in (0.1, 2.0)]}
ERRORS = {"title": "gradient check", "series": {"correct": {"W1": 1e-9, "b1": 0.0, "W2": 3e-8},
                                                "buggy": {"W1": 0.5, "b1": "nan", "W2": 2e-9}}}
CURVES = {"case": "lecture example", "train": [2.3, 1.8, 1.2, 0.8, 0.5], "val": [2.3, 1.9, 1.4, 1.6, 1.9],
          "found": "[HEALTHY]", "expected": "[OVERFITTING]"}
HISTORY = {"loss": [1.0, 0.5, 0.3], "accuracy": [0.7, 0.9, 0.95], "val_loss": [1.1, 0.6, 0.4],
           "val_accuracy": [0.65, 0.88, 0.93]}


def _image(snippet: str) -> tuple[str, bytes]:
    match = re.search(r'<img src="data:(image/[a-z+]+);base64,([A-Za-z0-9+/=]+)"', snippet)
    assert match, snippet[:200]
    return match.group(1), base64.b64decode(match.group(2))


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(data)).size


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)


def _test(part, name, extra, passed=True, visibility="public"):
    return GradedTest(part=part, name=name, points=1.0 if passed else 0.0, max_points=1.0, visibility=visibility,
                      oracle="golden", passed=passed, extra=extra)


# ---------------------------------------------------------------- each figure


@pytest.mark.parametrize("draw, data", [
    (figures.std_per_layer_figure, STD),
    (figures.relative_errors_figure, ERRORS),
    (figures.relative_errors_figure, {"W1": 1e-3, "b1": 2e-12}),  # one series, without "series"
    (figures.loss_curves_figure, CURVES),
    (figures.history_figure, HISTORY),
])
def test_each_figure_is_an_inert_png_of_a_sensible_size(draw, data):
    snippet = draw(data, caption="From the test x (passed).")
    mime, png = _image(snippet)
    assert mime == "image/png" and png.startswith(b"\x89PNG")
    width, height = _png_size(png)
    assert 600 <= width <= 900 and 250 <= height <= 500
    assert len(png) < 60_000, "a feedback page carries several figures: keep each small"
    parser = _Tags()
    parser.feed(snippet)
    assert set(parser.tags) <= {"figure", "img", "figcaption"}, "no script, no link, no inline SVG"
    assert "From the test x (passed)." in snippet


def test_same_data_gives_the_same_bytes():
    assert figures.loss_curves_figure(CURVES) == figures.loss_curves_figure(CURVES)
    assert figures.std_per_layer_figure(STD, fmt="svg") == figures.std_per_layer_figure(STD, fmt="svg")


def test_svg_is_an_image_not_markup():
    mime, data = _image(figures.relative_errors_figure(ERRORS, fmt="svg"))
    assert mime == "image/svg+xml" and b"<svg" in data


def test_student_text_is_escaped_and_drawn_as_text_not_math():
    data = dict(CURVES, found=HOSTILE, case=HOSTILE)
    snippet = figures.loss_curves_figure(data, caption=HOSTILE)  # mathtext would raise on the unbalanced "$"
    assert "<script>" not in snippet and "&lt;script&gt;" in snippet
    figures.relative_errors_figure({"series": {HOSTILE: {HOSTILE: 1e-3}}})
    figures.std_per_layer_figure({"series": [{"label": HOSTILE, "student": [1.0], "reference": [1.0]}]})


@pytest.mark.parametrize("values", [
    [1.0, math.nan, math.inf, -math.inf, 0.0, -1.0],
    ["nan", "inf", 1e300, 1e-300],
    [],
])
def test_non_finite_and_odd_values_are_drawn_not_raised(values):
    figures.std_per_layer_figure({"student": values, "reference": [1.0] * 3})
    figures.relative_errors_figure({f"p{i}": v for i, v in enumerate(values)} or {"W1": 0.0})
    if values:
        figures.loss_curves_figure({"train": values, "val": values})
        figures.history_figure({"loss": values, "accuracy": values}, held_out_accuracy="nan", min_accuracy=0.9)


@pytest.mark.parametrize("draw, data", [
    (figures.std_per_layer_figure, "not a dict"),
    (figures.std_per_layer_figure, {"series": "x"}),
    (figures.relative_errors_figure, {"series": {"a": [1, 2]}}),
    (figures.loss_curves_figure, {"train": []}),
    (figures.loss_curves_figure, {"train": "1,2,3"}),
    (figures.history_figure, {"loss": [{"x": 1}]}),
    (figures.history_figure, {}),
])
def test_malformed_data_raises_figure_data_error(draw, data):
    with pytest.raises(figures.FigureDataError):
        draw(data)


def test_huge_data_is_capped():
    snippet = figures.loss_curves_figure({"train": list(range(10**5, 0, -1)), "found": "x" * 10**5})
    assert len(snippet) < 80_000


# ---------------------------------------------------------------- per part and in the feedback page


def test_figures_for_part_uses_public_tests_only_failed_first_and_skips_bad_data(caplog):
    tests = [_test("debugging", "passing", {"loss_curves": CURVES}),
             _test("debugging", "secret", {"loss_curves": CURVES}, passed=False, visibility="hidden"),
             _test("debugging", "broken", {"loss_curves": {"train": "oops"}}, passed=False),
             _test("debugging", "failing", {"loss_curves": dict(CURVES, case="second")}, passed=False),
             _test("debugging", "no pictures", {"accuracy": 0.5}),
             _test("clipping", "other part", {"loss_curves": CURVES})]
    snippets = figures.figures_for_part("debugging", tests)
    assert len(snippets) == 2
    assert "failing (failed)" in snippets[0] and "passing (passed)" in snippets[1]
    assert "secret" not in "".join(snippets)
    assert "no loss_curves figure for debugging/broken" in caplog.text
    assert figures.figures_for_test(tests[1]) == [], "a hidden test's data is never drawn"
    assert len(figures.figures_for_test(tests[0])) == 1 and figures.figures_for_test(tests[2]) == []
    many = [_test("debugging", f"t{i}", {"loss_curves": CURVES}) for i in range(10)]
    assert len(figures.figures_for_part("debugging", many)) == figures.MAX_FIGURES_PER_PART


def test_history_figure_takes_accuracy_keys_beside_it():
    tests = [_test("training", "train_mnist_accuracy", {"history": HISTORY, "held_out_accuracy": 0.93,
                                                          "min_accuracy": 0.9})]
    (snippet,) = figures.figures_for_part("training", tests)
    assert "held-out accuracy 93.0%" in snippet


def test_part_figures_plugs_into_feedback_html():
    tests = [_test("initializers", "simulate_forward_lecture_scales", {"std_per_layer": STD}, passed=False)]
    result = StudentResult(student="ann", parts={"initializers": part_result("initializers", 1.0, tests)},
                           isolation="test")
    page = feedback_html(result, part_extras=figures.part_figures)
    assert page.count('<figure class="autograder-figure"') == 1
    assert figures.part_figures(PartResult("clipping", "ok", 1, 1)) == ""


@pytest.mark.parametrize("policy, drawn", [("failed", ["fails"]), ("all", ["passes", "fails"]), ("none", [])])
def test_figures_policy_picks_the_tests_drawn_beside_their_rows(policy, drawn):
    tests = [_test("debugging", "passes", {"loss_curves": dict(CURVES, case="passes")}),
             _test("debugging", "fails", {"loss_curves": dict(CURVES, case="fails")}, passed=False),
             _test("debugging", "hidden", {"loss_curves": CURVES}, passed=False, visibility="hidden")]
    result = StudentResult(student="ann", parts={"debugging": part_result("debugging", 1.0, tests)},
                           isolation="test")
    page = feedback_html(result, test_extras=figures.figures_hook(policy))
    assert page.count('<figure class="autograder-figure"') == len(drawn)
    for name in ("passes", "fails"):
        assert (f"From the test {name} (" in page) == (name in drawn)


def test_unknown_figures_policy_is_refused():
    with pytest.raises(ValueError, match="unknown figures policy"):
        figures.figures_hook("some")


# ---------------------------------------------------------------- the summary page


def _student(student, scores, status="ok", message=""):
    parts = {}
    for part in PART_IDS:
        score = scores.get(part, 0.0)
        tests = [GradedTest(part=part, name="shape", points=score / 2, max_points=1.0, visibility="public",
                            oracle="golden", passed=score >= 2),
                 GradedTest(part=part, name="values", points=score / 2, max_points=1.0, visibility="hidden",
                            oracle="reference", passed=score >= 2)]
        part_status = status if part == "clipping" else ("missing" if part not in scores else "ok")
        parts[part] = PartResult(part=part, status=part_status, score=score, max_score=2.0,
                                 message=message if part == "clipping" else "", tests=tests)
    return StudentResult(student=student, parts=parts, isolation="bwrap+uid65534+rlimits")


def test_pass_rates_count_students_who_submitted_the_part():
    results = [_student("a", {p: 2.0 for p in PART_IDS}), _student("b", {"clipping": 0.0}),
               _student("c", {"clipping": 2.0, "backprop": 0.0})]
    rates = {(r.part, r.name): r for r in pass_rates(results)}
    assert [r.part for r in pass_rates(results)][:2] == ["initializers", "initializers"]  # course order
    assert (rates[("clipping", "shape")].passed, rates[("clipping", "shape")].graded) == (2, 3)
    assert (rates[("backprop", "shape")].passed, rates[("backprop", "shape")].graded) == (1, 2)  # b: missing
    assert rates[("initializers", "values")].visibility == "hidden"


def test_summary_page_shows_histogram_problems_and_escapes():
    results = [_student("alice", {p: 2.0 for p in PART_IDS}),
               _student("bob<x>", {"clipping": 1.0}, status="timeout", message=HOSTILE + "\nsecond line"),
               _student("carol", {"clipping": 0.0}, status="crashed", message="worker died")]
    page = summary_html(results, title="Course <1>", part_titles={"clipping": "Gradient clipping"})
    assert page.startswith("<!DOCTYPE html>") and "Course &lt;1&gt;" in page
    assert page.count('<figure class="autograder-figure"') == 1  # the histogram
    assert "<script>" not in page and "&lt;script&gt;" in page and "second line" not in page
    problems = page.split("could not be fully graded</h2>")[1].split("<h2>")[0]
    assert "bob&lt;x&gt;" in problems and "carol" in problems and "alice" not in problems
    assert "timeout" in problems and "worker died" in problems
    assert 'href="feedback/bob%3Cx%3E.html"' in page
    assert "Gradient clipping" in page and "hidden" in page


def test_summary_page_of_no_students():
    page = summary_html([])
    assert "<figure" not in page and "students" in page


def test_histogram_bins_and_draws_the_totals_as_inline_svg():
    from autograder.reports.histogram import BAD_COLOR, OK_COLOR, bin_counts, histogram_svg

    assert bin_counts([0, 4.99, 5, 99.9, 100, 130, -3], 100.0) == [3, 1] + [0] * 17 + [3]
    assert bin_counts([2.0], 0.0) == [1] + [0] * 19
    svg = histogram_svg([100.0, 100.0, 62.5], [0.0], 100.0, label='totals <of> "4"')
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<script" not in svg and "href" not in svg
    assert 'aria-label="totals &lt;of&gt; &quot;4&quot;"' in svg
    assert svg.count(f'fill="{OK_COLOR}"') == 2 + 1 and svg.count(f'fill="{BAD_COLOR}"') == 1 + 1  # bars + legend
    assert "mean 65.6" in svg and "median 81.2" in svg and "total points (of 100)" in svg
    empty = histogram_svg([], [], 0.0)
    assert empty.count(f'fill="{OK_COLOR}"') == 1 and "mean" not in empty  # the legend only
