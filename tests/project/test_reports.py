"""Reports: grades.csv, Gradescope results.json (schema), feedback Markdown and HTML (escaping, hidden tests)."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from autograder import PART_IDS
from autograder.reports import feedback_html, feedback_markdown, format_points, grades_csv, gradescope_results
from autograder.results import PartResult, StudentResult, part_result
from autograder.results import TestResult as GradedTest  # not collected as a test class

HOSTILE = "<script>alert('x')</script> & </pre><img src=x onerror=alert(1)> ```\n| [link](http://evil)"
HIDDEN_SECRET = "expected: 0.123456 for the hidden input [[9, 9]]"


def _test(part, name, passed, visibility="public", points=2.0, message="", hint=None):
    return GradedTest(part=part, name=name, points=points if passed else 0.0, max_points=points,
                      visibility=visibility, oracle="golden" if visibility == "public" else "reference",
                      passed=passed, message=message, hint=hint)


@pytest.fixture
def result() -> StudentResult:
    parts = {}
    for pid in PART_IDS:
        tests = [_test(pid, "shape", True), _test(pid, "values", pid != "clipping", message=HOSTILE, hint="see 2.1"),
                 _test(pid, "secret", pid != "backprop", visibility="hidden", message=HIDDEN_SECRET)]
        parts[pid] = part_result(pid, 6.0, tests, source=f"{pid}.py")
    parts["training"] = PartResult(part="training", status="timeout", score=0.0, max_score=6.0,
                                   message="training.train did not finish within 10 s", source="training.ipynb",
                                   tests=[_test("training", "learns", False, message="did not finish")])
    return StudentResult(student="alice", parts=parts, isolation="bwrap+uid65534+rlimits", duration=12.345,
                         message="")


# ---------------------------------------------------------------- CSV


def test_format_points_is_deterministic():
    assert [format_points(v) for v in (20, 20.0, 12.5, 1 / 3, 0.1 + 0.2, -0.0, 1e-9)] == \
        ["20", "20", "12.5", "0.333333", "0.3", "0", "0"]


def test_grades_csv_header_rows_sorted_and_status(result):
    bob = StudentResult(student="bob", parts={p: PartResult(p, "missing", 0.0, 6.0) for p in PART_IDS},
                        isolation="x")
    text = grades_csv([bob, result])
    assert text.splitlines() == [
        "student,initializers,clipping,backprop,debugging,training,total,max_total,status",
        "alice,6,4,4,6,0,20,30,timeout",
        "bob,0,0,0,0,0,0,30,missing",
    ]


def test_grades_csv_quotes_odd_ids():
    odd = StudentResult(student='a,"b"', parts={}, isolation="")
    assert grades_csv([odd], ()).splitlines()[1] == '"a,""b""",0,0,ok'


# ---------------------------------------------------------------- Gradescope


TEST_KEYS = {"name": str, "number": str, "score": (int, float), "max_score": (int, float), "status": str,
             "output": str, "output_format": str, "tags": list, "visibility": str}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def test_results_json_schema(result):
    document = json.loads(json.dumps(gradescope_results(result)))
    assert isinstance(document["score"], (int, float)) and document["score"] == 20
    assert isinstance(document["execution_time"], (int, float))
    assert isinstance(document["output"], str)
    assert document["visibility"] in VISIBILITIES and document["stdout_visibility"] in VISIBILITIES
    assert document["output_format"] in FORMATS and document["test_output_format"] in FORMATS
    assert len(document["tests"]) == 13  # 4 parts x 3 tests + training's one
    for test in document["tests"]:
        for key, kind in TEST_KEYS.items():
            assert isinstance(test[key], kind), key
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in VISIBILITIES and test["output_format"] in FORMATS
        assert 0 <= test["score"] <= test["max_score"]
        assert re.match(r"^(initializers|clipping|backprop|debugging|training): \w+$", test["name"])
    assert sum(t["score"] for t in document["tests"]) == document["score"]


def test_results_json_hidden_tests_say_only_passed_or_failed(result):
    tests = gradescope_results(result)["tests"]
    hidden = [t for t in tests if t["name"].endswith(": secret")]
    assert {t["visibility"] for t in hidden} == {"after_published"}
    assert {t["output"] for t in hidden} == {"passed", "failed"}
    assert HIDDEN_SECRET not in json.dumps(gradescope_results(result))


def test_results_json_public_failure_has_message_and_hint(result):
    test = next(t for t in gradescope_results(result)["tests"] if t["name"] == "clipping: values")
    assert test["visibility"] == "visible" and test["status"] == "failed"
    assert test["output"].startswith("failed: <script>") and "Hint: see 2.1" in test["output"]


def test_results_json_output_names_problem_parts(result):
    output = gradescope_results(result)["output"]
    assert "training: 0/6 [timeout] training.train did not finish within 10 s (graded: training.ipynb)" in output


# ---------------------------------------------------------------- HTML


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def test_html_escapes_student_text(result):
    page = feedback_html(result, title="Course <b>")
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    parser = _Collector()
    parser.feed(page)
    assert {tag for tag, _ in parser.tags} <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p",
                                                "code", "span", "section", "table", "thead", "tbody", "tr", "th",
                                                "td", "pre", "div"}
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    assert HOSTILE.split("\n")[0] in "".join(parser.text)  # shown to the student as text


def test_html_hidden_tests_show_no_message(result):
    page = feedback_html(result)
    assert HIDDEN_SECRET not in page and "hidden test: result only" in page


def test_html_is_standalone_and_marks_pass_and_fail(result):
    page = feedback_html(result, part_titles={"clipping": "Gradient clipping"})
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    parser = _Collector()
    parser.feed(page)
    assert not {"script", "link", "img", "iframe", "object"} & {tag for tag, _ in parser.tags}
    assert not any({"src", "href"} & set(attrs) for _, attrs in parser.tags)  # nothing fetched from anywhere
    assert 'class="passed"' in page and 'class="failed"' in page
    assert "Gradient clipping" in page and "Total: 20 / 30" in page


def test_html_part_extras_hook_adds_trusted_html_per_part(result):
    seen = []

    def figure(part):
        seen.append(part.part)
        return f'<figure class="plot" id="fig-{part.part}"></figure>'

    page = feedback_html(result, part_extras=figure)
    assert seen == list(PART_IDS)
    assert page.index('id="fig-clipping"') < page.index('id="part-backprop"')


# ---------------------------------------------------------------- Markdown


def test_markdown_fences_student_text_and_hides_hidden_messages(result):
    text = feedback_markdown(result, title="Course")
    assert HIDDEN_SECRET not in text
    fence = "````text"  # the message holds ``` so the fence must be longer
    assert fence in text and HOSTILE in text
    assert "| values | failed | 0 / 2 |" in text
    assert "| secret (hidden) | failed | 0 / 2 |" in text


def test_markdown_escapes_messages_outside_fences():
    hostile = StudentResult(student="eve", parts={"clipping": PartResult("clipping", "invalid", 0.0, 6.0,
                                                                        message="<b>bad</b> *zip*")},
                            isolation="", message="[click](http://evil)")
    text = feedback_markdown(hostile)
    assert "<b>" not in text and "\\*zip\\*" in text and "\\[click\\]" in text


def test_reports_round_trip_through_state(result):
    again = StudentResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert gradescope_results(again) == gradescope_results(result)
    assert feedback_html(again) == feedback_html(result)
