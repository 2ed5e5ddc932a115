"""Reports: grades.csv, Gradescope results.json (schema), feedback Markdown and HTML (escaping, hidden tests)."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from autograder import PART_IDS
from autograder.reports import feedback_html, feedback_markdown, format_points, grades_csv, gradescope_results
from autograder.reports.feedback import OPEN_EXTRAS_PER_PART
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
    assert "execution_time" not in document  # batch files depend on the grades alone
    assert isinstance(gradescope_results(result, timing=True)["execution_time"], (int, float))
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

PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "code", "span", "section", "table",
             "thead", "tbody", "tr", "th", "td", "pre", "div", "a", "nav", "strong", "b", "details", "summary"}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    return parser


def _rows(page: str) -> list[str]:
    """The page's table rows, in order, as HTML text."""
    return re.findall(r"<tr\b.*?</tr>", page, flags=re.S)


def _row_after(page: str, test_id: str) -> str:
    """The row right after the row with id ``test_id`` (its detail row, when it has one)."""
    rows = _rows(page)
    index = next(i for i, row in enumerate(rows) if f'id="{test_id}"' in row)
    return rows[index + 1] if index + 1 < len(rows) else ""


def test_html_escapes_student_text(result):
    page = feedback_html(result, title="Course <b>")
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    parser = _parse(page)
    assert {tag for tag, _ in parser.tags} <= PAGE_TAGS
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    assert HOSTILE.split("\n")[0] in "".join(parser.text)  # shown to the student as text


def test_html_escapes_student_text_everywhere():
    """Student id, test names, graded file names, part and submission messages, hints: all text, never markup."""
    script = "<script>alert(1)</script>"
    tests = [_test("clipping", f"values {script}", False, message=f"found {script}\nline two", hint=f"hint {script}"),
             _test("clipping", f"again {script}", False, message="x", hint=f"hint {script}"),
             _test("clipping", f"secret {script}", True, visibility="hidden")]
    parts = {"clipping": part_result("clipping", 6.0, tests, status="timeout", message=f"slow {script}",
                                     source=f"clipping.py ({script})"),
             "backprop": PartResult("backprop", "crashed", 0.0, 6.0, message=f"import {script}",
                                    source=f"{script}.ipynb",
                                    tests=[_test("backprop", f"t{i} {script}", False, message=f"import {script}")
                                           for i in range(3)])}
    evil = StudentResult(student=f"eve{script}", parts=parts, isolation=f"none{script}", message=f"zip {script}")
    page = feedback_html(evil, title=script, part_titles={"clipping": script})
    assert "<script" not in page.lower()
    parser = _parse(page)
    assert {tag for tag, _ in parser.tags} <= PAGE_TAGS
    assert not any(k.startswith("on") for _, attrs in parser.tags for k in attrs)
    ids = {attrs["id"] for _, attrs in parser.tags if "id" in attrs}
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", i) for i in ids), "ids are made safe, not just escaped"
    text = "".join(parser.text)
    for shown in (f"eve{script}", f"values {script}", f"clipping.py ({script})", f"slow {script}", f"hint {script}",
                  f"{script}.ipynb", f"zip {script}", f"secret {script}"):
        assert shown in text, shown
    markdown = feedback_markdown(evil, title=script, part_titles={"clipping": script})
    assert "<script>" not in markdown.replace("```text\nfound <script>", "")  # only inside a fence


def test_html_hidden_tests_show_no_message(result):
    for pid in PART_IDS:  # a hidden test's hint and data are as secret as its message
        for test in result.parts[pid].tests:
            if test.visibility == "hidden":
                test.hint, test.extra = "HIDDEN HINT", {"loss_curves": {"train": [1, 2], "case": "HIDDEN CASE"}}
    page = feedback_html(result)
    assert HIDDEN_SECRET not in page and "HIDDEN HINT" not in page and "HIDDEN CASE" not in page
    assert "<figure" not in page
    # one tag per hidden row, one note per table that has hidden tests, no note per row
    assert page.count('<span class="tag">hidden</span>') == 4
    assert page.count("Hidden tests show only their result.") == 4
    assert "hidden test: result only" not in page
    secret_row = next(row for row in _rows(page) if "secret" in row and "backprop" in row)
    assert "failed" in secret_row and "0 / 2" in secret_row
    assert 'class="detail' not in _row_after(page, "test-backprop-secret")


def test_html_failure_gets_a_full_width_block_under_its_row(result):
    page = feedback_html(result)
    detail = _row_after(page, "test-clipping-values")
    assert detail.startswith('<tr class="detail failed"><td colspan="3"><pre class="message">')
    message = re.search(r'<pre class="message">(.*?)</pre>', detail, flags=re.S).group(1)
    assert "\n| [link](http://evil)" in message, "line breaks are kept"
    assert '<div class="hint"><b>Hint:</b> see 2.1</div>' in detail
    assert _row_after(page, "test-clipping-shape").startswith('<tr class="failed has-detail" id="test-clipping-values"')
    assert "detail" not in _row_after(page, "test-initializers-values"), "a passed test has no block"
    header = re.search(r"<thead><tr>(.*?)</tr></thead>", page.split('id="part-clipping"')[1]).group(1)
    assert header.count("<th") == 3, "the detail's colspan covers the whole table"


def test_html_expected_and_found_lines_are_marked():
    tests = [_test("clipping", "values", False, message="wrong values\n  expected: 1.0\n  found:    <b>2</b>")]
    page = feedback_html(StudentResult("ann", {"clipping": part_result("clipping", 2.0, tests)}, isolation=""))
    assert '<span class="exp">  expected: 1.0</span>\n<span class="got">  found:    &lt;b&gt;2&lt;/b&gt;</span>' in page


def test_html_part_that_did_not_run_says_so_once():
    traceback = 'importing clipping.py raised ImportError: no torch\n  File "clipping.py", line 3\n    import torch'
    crashed = [_test("clipping", f"t{i}", False, message=traceback, hint=f"see 2.{i}") for i in range(6)]
    crashed.append(_test("clipping", "secret", False, visibility="hidden", message=HIDDEN_SECRET))
    missing = [_test("backprop", f"b{i}", False, message="not graded: neither backprop.py nor backprop.ipynb was found")
               for i in range(4)]
    parts = {"clipping": part_result("clipping", 6.0, crashed, status="crashed", source="clipping.py",
                                     message="importing clipping.py raised ImportError: no torch"),
             "backprop": part_result("backprop", 6.0, missing, status="missing",
                                     message="neither backprop.py nor backprop.ipynb was found")}
    result = StudentResult("bob", parts, isolation="bwrap")
    page = feedback_html(result)
    assert "7 tests not run" in page and "4 tests not run" in page
    text = "".join(_parse(page).text)
    assert text.count("no torch") == 1 and text.count('File "clipping.py", line 3\n  import torch') == 1
    assert page.count("neither backprop.py nor backprop.ipynb was found") == 1
    assert "see 2." not in page and HIDDEN_SECRET not in page
    assert '<table class="tests">' not in page and "t5" in page  # the names are there, folded, not a table
    markdown = feedback_markdown(result)
    assert "7 tests not run." in markdown and markdown.count('File "clipping.py", line 3') == 1
    assert "| t0 |" not in markdown and HIDDEN_SECRET not in markdown


def test_html_part_with_a_crash_after_some_tests_keeps_its_table():
    tests = [_test("clipping", "a", False, message="your code raised SystemExit"),
             _test("clipping", "b", False, message="the worker died")]
    page = feedback_html(StudentResult("x", {"clipping": part_result("clipping", 4.0, tests, status="crashed",
                                                                     message="the worker died")}, isolation=""))
    assert "not run" not in page and "your code raised SystemExit" in page


def test_html_repeated_hint_is_given_once():
    hint = "3.1: compare with the best validation loss"
    tests = [_test("debugging", "first", False, message="m1", hint=hint),
             _test("debugging", "other", False, message="m2", hint="a different hint"),
             _test("debugging", "second", False, message="m3", hint=hint),
             _test("debugging", "hidden one", False, visibility="hidden", message="m4", hint=hint),
             _test("debugging", "third", False, message="m5", hint=hint)]
    result = StudentResult("x", {"debugging": part_result("debugging", 10.0, tests)}, isolation="")
    page = feedback_html(result)
    assert page.count(hint) == 1 and page.count("a different hint") == 1
    assert page.count('Hint: same as for <a href="#test-debugging-first">first</a> above.') == 2
    assert 'id="test-debugging-first"' in page
    assert "same as for" in _row_after(page, "test-debugging-third")
    markdown = feedback_markdown(result)
    assert markdown.count(hint) == 1 and markdown.count("Hint: same as for first above.") == 2


def test_html_contents_links_parts_with_score_status_isolation_and_file(result):
    page = feedback_html(result, part_titles={"clipping": "Gradient clipping"})
    nav = page.split('<nav class="contents"')[1].split("</nav>")[0]
    assert "Total: 20 / 30" in nav and '<span class="status bad">timeout</span>' in nav
    assert 'graded in: <code>bwrap+uid65534+rlimits</code>' in page
    for pid in PART_IDS:
        assert f'<a href="#part-{pid}">' in nav and f'<section class="part" id="part-{pid}">' in page
    clipping = next(row for row in _rows(nav) if "#part-clipping" in row)
    assert "Gradient clipping" in clipping and "4 / 6" in clipping and "clipping.py" in clipping
    assert "2 / 3 passed" in clipping
    training = next(row for row in _rows(nav) if "#part-training" in row)
    assert "timeout" in training and "training.ipynb" in training
    assert page.index("<nav") < page.index('<section class="part"')


def test_html_is_standalone_and_marks_pass_and_fail(result):
    page = feedback_html(result, part_titles={"clipping": "Gradient clipping"})
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    parser = _parse(page)
    assert not {"script", "link", "img", "iframe", "object"} & {tag for tag, _ in parser.tags}
    assert not any("src" in attrs for _, attrs in parser.tags)  # nothing fetched from anywhere
    ids = {attrs["id"] for _, attrs in parser.tags if "id" in attrs}
    links = [attrs["href"] for _, attrs in parser.tags if "href" in attrs]
    assert links and all(link.startswith("#") and link[1:] in ids for link in links), "links stay on the page"
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


def test_html_test_extras_hook_puts_its_html_beside_public_tests_only(result):
    seen = []

    def picture(test):
        seen.append((test.part, test.name))
        return f'<figure class="plot" id="fig-{test.part}-{test.name}"></figure>'

    page = feedback_html(result, test_extras=picture)
    assert ("clipping", "secret") not in seen and ("clipping", "values") in seen and ("clipping", "shape") in seen
    assert {name for _, name in seen} == {"shape", "values", "learns"}
    assert 'id="fig-clipping-values"' in _row_after(page, "test-clipping-values"), "beside its failed test"
    folded = _row_after(page, "test-clipping-shape")  # a passed test's picture: one click away
    assert '<details class="extras"><summary>' in folded and 'id="fig-clipping-shape"' in folded


def test_html_test_extras_open_at_most_a_few_per_part_and_survive_a_failing_hook():
    tests = [_test("debugging", f"t{i}", False, message=f"m{i}") for i in range(5)]
    tests.append(_test("debugging", "boom", False, message="m"))
    result = StudentResult("x", {"debugging": part_result("debugging", 12.0, tests)}, isolation="")

    def picture(test):
        if test.name == "boom":
            raise ValueError("the hook failed")
        return f"<figure id='fig-{test.name}'></figure>"

    page = feedback_html(result, test_extras=picture)
    shown = page.count('<div class="extras">')
    assert shown == OPEN_EXTRAS_PER_PART and page.count('<details class="extras">') == 5 - shown
    assert "m5" not in page and "m" in _row_after(page, "test-debugging-boom")


def test_html_default_test_extras_draw_figures_beside_their_test_and_never_twice():
    from autograder.reports.figures import part_figures

    curves = {"case": "lecture", "train": [2.0, 1.0, 0.5], "val": [2.0, 1.5, 1.9], "found": "[HEALTHY]",
              "expected": "[OVERFITTING]"}
    tests = [GradedTest(part="debugging", name="lecture_example", points=0.0, max_points=1.0, visibility="public",
                        oracle="golden", passed=False, message="wrong", extra={"loss_curves": curves}),
             GradedTest(part="debugging", name="hidden_curves", points=0.0, max_points=1.0, visibility="hidden",
                        oracle="golden", passed=False, message=HIDDEN_SECRET, extra={"loss_curves": curves}),
             _test("debugging", "after", True)]
    result = StudentResult("x", {"debugging": part_result("debugging", 4.0, tests)}, isolation="")
    page = feedback_html(result)
    assert page.count('<figure class="autograder-figure"') == 1
    assert '<figure class="autograder-figure"' in _row_after(page, "test-debugging-lecture_example")
    assert feedback_html(result, test_extras=None).count("<figure") == 0
    # the older part hook alone: its pictures after the table, none beside the tests (no picture twice)
    old = feedback_html(result, part_extras=part_figures)
    assert old.count('<figure class="autograder-figure"') == 1 and 'class="extras"' not in old


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
