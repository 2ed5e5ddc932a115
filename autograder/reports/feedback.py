"""A student's feedback as Markdown and as one self-contained HTML page.

Both open with an overview: the total and the status, then each part's
points, status, tests passed and the file that was graded (the HTML also names
the isolation that graded it and links each part to its section). Per part,
a table of its tests: passed or failed and the points. A failed public test
gets a full-width block under its row: what was expected and what was found
(line breaks kept) and a hint; a hint repeated in the same part is written
once and later failures point back to it. Hidden tests show their name, a
"hidden" tag and their result, nothing else, with one note under the table.
A part that never ran (file missing, unreadable, failed at import) shows its
reason once and "N tests not run" instead of N copies of the same failure.

Every piece of text that may come from a student (messages, hints, test
names, file names, the student id) is escaped. The HTML needs no network:
inline CSS, no scripts; its only links are to its own sections.

Pictures come from hooks that return trusted HTML (made by the grader from
numbers, never student text), inserted as is:

* ``test_extras(test)``: beside one test, in its block under the row. Called
  for public tests only (a hidden test's data may hold its inputs). The
  default, ``"auto"``, draws :func:`autograder.reports.figures.figures_for_test`.
  The first failed tests' pictures are shown (:data:`OPEN_EXTRAS_PER_PART`
  per part), the others folded away (``<details>``, one click to open).
* ``part_extras(part)``: after a part's table (the older hook, e.g.
  :func:`autograder.reports.figures.part_figures`). A caller that passes
  ``part_extras`` and leaves ``test_extras`` at ``"auto"`` gets no per-test
  pictures, so that no picture appears twice.
"""
from __future__ import annotations

import html
import logging
import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Literal

from autograder.reports.figures import figures_hook
from autograder.reports.grades import format_points as _points
from autograder.results import PartResult, StudentResult, TestResult

log = logging.getLogger(__name__)

PartExtras = Callable[[PartResult], str]
TestExtras = Callable[[TestResult], str]

# Statuses of a part whose tests never met the student's code: the file was not there, could not be read, or
# failed at import. Every test then fails with the same message; the page says it once.
_NOT_RUN_STATUSES = ("missing", "invalid", "crashed")
_NOT_GRADED_PREFIX = "not graded: "
# Pictures shown open per part (the first failed tests'); the others are folded away, one click from their test.
OPEN_EXTRAS_PER_PART = 3

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;
color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.25em;margin:2em 0 .3em;border-bottom:1px solid #d0d7de;
padding-bottom:.25em}h2 .score{font-variant-numeric:tabular-nums}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono","Liberation Mono",monospace}
code{font-size:.86em;background:#f6f8fa;border-radius:3px;padding:0 .25em}h2 code{font-weight:400;color:#57606a}
.meta{color:#57606a;font-size:.9em;margin:.2em 0 .6em}.meta a{margin-left:.6em}
.total{font-size:1.25em;font-weight:600;margin:.6em 0 .4em}
table{border-collapse:collapse;width:100%;margin:.4em 0}th,td{text-align:left;padding:.35em .6em;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa;font-weight:600;font-size:.9em}
td.num,th.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.result{white-space:nowrap;font-weight:600;width:6.5em}td.points{width:5.5em}
tr.passed td.result{color:#1a7f37}tr.failed td.result{color:#cf222e}
tbody tr.passed{background:#f6fef8}tbody tr.failed{background:#fff6f6}
tr.has-detail td{border-bottom:0}tr.detail td{padding:0 .6em .7em 1.6em}
pre.message{white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #f0c6c6;border-left:3px solid
#cf222e;border-radius:4px;padding:.5em .7em;margin:.1em 0 .45em;font-size:.82em;line-height:1.45}
pre.message .exp{color:#1a7f37}pre.message .got{color:#cf222e;font-weight:600}
pre.trace{border-color:#d0d7de;border-left-color:#6e7781}
.hint{color:#0b3d91;background:#eef6ff;border-radius:4px;padding:.35em .7em;font-size:.9em;margin:.2em 0}
.hint b{color:#0550ae}.hint.same{background:none;padding:0 .7em;color:#57606a;font-style:italic}
.extras figure{margin:.5em 0 .2em!important}.extras figcaption{display:none}
details.extras summary{cursor:pointer;color:#0969da;font-size:.88em}
.tag{display:inline-block;padding:0 .45em;margin-left:.4em;border-radius:1em;font-size:.75em;font-weight:600;
background:#ddf4ff;color:#0550ae;vertical-align:.1em}
.status{display:inline-block;padding:0 .5em;border-radius:1em;font-size:.78em;font-weight:600;vertical-align:.15em}
.status.ok{background:#dafbe1;color:#1a7f37}.status.bad{background:#ffebe9;color:#cf222e}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:.5em .8em;margin:.5em 0}
.footnote{color:#57606a;font-size:.85em;font-style:italic;margin:.2em 0}
.not-run{color:#57606a;margin:.4em 0}.not-run summary{cursor:pointer}.not-run p{font-size:.88em}
nav.contents{border:1px solid #d0d7de;border-radius:6px;padding:.2em .9em .5em;margin:.6em 0 1em}
nav.contents table{margin:0;font-size:.92em}nav.contents td{border-bottom:1px solid #f0f2f4}
nav.contents tr:last-child td{border-bottom:0}
.bar{display:inline-block;width:90px;height:.6em;background:#eaeef2;border-radius:3px;vertical-align:middle;
margin-left:.5em;overflow:hidden}.bar span{display:block;height:100%;background:#2da44e}
.bar.mid span{background:#d4a72c}.bar.low span{background:#cf222e}
"""


def _verdict(test: TestResult) -> str:
    return "passed" if test.passed else "failed"


def _public(test: TestResult) -> bool:
    return test.visibility == "public"


def _shows_message(test: TestResult) -> bool:
    return _public(test) and not test.passed and bool(test.message)


def _shows_hint(test: TestResult) -> bool:
    return _public(test) and not test.passed and bool(test.hint)


def _not_run(part: PartResult) -> bool:
    """True when no test of the part met the student's code: the reason is the part's, said once."""
    if part.status not in _NOT_RUN_STATUSES or not part.tests or any(t.passed for t in part.tests):
        return False
    return len({t.message for t in part.tests if _public(t)}) <= 1


def _not_run_detail(part: PartResult) -> str:
    """What the public tests of a part that did not run add to the part's message (e.g. a traceback), or ``""``.

    Only public messages are read: a hidden test's message is never shown.
    """
    message = next((t.message for t in part.tests if _public(t)), "")
    if message.startswith(_NOT_GRADED_PREFIX):
        message = message[len(_NOT_GRADED_PREFIX):]
    first, _, rest = message.partition("\n")
    if first.strip() == part.message.strip():
        message = textwrap.dedent(rest)
    return message.strip("\n")


def _hint_sources(part: PartResult) -> dict[int, TestResult]:
    """For each failed public test whose hint an earlier one in the part already gave: that earlier test."""
    first: dict[str, TestResult] = {}
    repeats: dict[int, TestResult] = {}
    for index, test in enumerate(part.tests):
        if _shows_hint(test):
            if test.hint in first:
                repeats[index] = first[test.hint]
            else:
                first[test.hint] = test
    return repeats


def _passed_count(part: PartResult) -> str:
    return f"{sum(t.passed for t in part.tests)} / {len(part.tests)}"


# ---------------------------------------------------------------- Markdown


# Inside a line that starts with our own text, only these can change the rendering (emphasis, code,
# links, tables, raw HTML, strike-through); escaping more only makes the plain text harder to read.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|<>&~])")


def _md(text: str) -> str:
    """Student text made inert in Markdown: special characters escaped, one line."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _fence(text: str) -> str:
    """A fenced code block that ``text`` cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _md_overview(result: StudentResult, part_titles: Mapping[str, str]) -> list[str]:
    lines = ["| part | points | status | tests passed | file graded |", "| --- | --- | --- | --- | --- |"]
    for part in result.parts.values():
        name = _md(part_titles.get(part.part, part.part))
        tests = "not run" if _not_run(part) else _passed_count(part) if part.tests else "none"
        lines.append(f"| {name} | {_points(part.score)} / {_points(part.max_score)} | {_md(part.status)} | {tests} "
                     f"| {_md(part.source) if part.source else 'none'} |")
    return [*lines, ""]


def _md_part(part: PartResult, name: str) -> list[str]:
    lines = [f"## {_md(name)} (`{part.part}`): {_points(part.score)} / {_points(part.max_score)}", ""]
    if part.source:
        lines.append(f"Graded file: {_md(part.source)}  ")
    if part.status != "ok":
        lines.append(f"**Status: {_md(part.status)}**: {_md(part.message)}  ")
    lines.append("")
    if _not_run(part):
        detail = _not_run_detail(part)
        if detail:
            lines += [_fence(detail), ""]
        return [*lines, f"{len(part.tests)} tests not run.", ""]
    if part.tests:
        lines += ["| test | result | points |", "| --- | --- | --- |"]
        for test in part.tests:
            label = _md(test.name) + (" (hidden)" if not _public(test) else "")
            lines.append(f"| {label} | {_verdict(test)} | {_points(test.points)} / {_points(test.max_points)} |")
        lines.append("")
    if any(not _public(t) for t in part.tests):
        lines += ["_Hidden tests show only their result._", ""]
    repeats = _hint_sources(part)
    for index, test in enumerate(part.tests):
        if _shows_message(test) or _shows_hint(test):
            lines += [f"**{_md(test.name)}** failed:", ""]
            if test.message:
                lines += [_fence(test.message), ""]
            if index in repeats:
                lines += [f"Hint: same as for {_md(repeats[index].name)} above.", ""]
            elif _shows_hint(test):
                lines += [f"Hint: {_md(test.hint)}", ""]
    return lines


def feedback_markdown(result: StudentResult, *, title: str = "Grading report",
                      part_titles: Mapping[str, str] | None = None) -> str:
    """The feedback as Markdown text."""
    part_titles = part_titles or {}
    lines = [f"# {_md(title)}", "", f"Student: `{_md(result.student)}`  ",
             f"**Total: {_points(result.total)} / {_points(result.max_total)}** (status: {_md(result.status)})  ",
             f"Graded in: {_md(result.isolation or 'unknown')}", ""]
    if result.message:
        lines += [f"> {_md(result.message)}", ""]
    if result.parts:
        lines += _md_overview(result, part_titles)
    for part in result.parts.values():
        lines += _md_part(part, part_titles.get(part.part, part.part))
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- HTML


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _anchor(kind: str, *names: str) -> str:
    """An id for a section or a test row: readable, stable, made of characters that need no escaping."""
    return "-".join([kind, *(re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"_{ord(m.group()):x}_", n) for n in names)])


def _status(status: str) -> str:
    return f'<span class="status {"ok" if status == "ok" else "bad"}">{_e(status)}</span>'


def _bar(score: float, max_score: float) -> str:
    share = min(max(score / max_score, 0.0), 1.0) if max_score > 0 else 0.0
    level = "" if share >= 0.8 else " mid" if share >= 0.5 else " low"
    return f'<span class="bar{level}"><span style="width:{share * 100:.0f}%"></span></span>'


def _message_html(message: str) -> str:
    """The message, escaped, line breaks kept; its own "expected:" and "found:" lines coloured."""
    lines = []
    for line in message.split("\n"):
        head = line.lstrip()
        kind = "exp" if head.startswith("expected:") else "got" if head.startswith("found:") else ""
        lines.append(f'<span class="{kind}">{_e(line)}</span>' if kind else _e(line))
    return '<pre class="message">' + "\n".join(lines) + "</pre>"


def _extras(test: TestResult, test_extras: TestExtras | None) -> str:
    """The hook's trusted HTML for a public test, or ``""``."""
    if test_extras is None or not _public(test):
        return ""
    try:
        return test_extras(test) or ""
    except Exception as exc:  # noqa: BLE001 - pictures are a bonus: a failing hook costs the picture, not the page
        log.warning("no extras for %s/%s: %s", test.part, test.name, exc)
        return ""


def _extras_html(extras: str, shown: bool) -> str:
    if not extras:
        return ""
    if shown:
        return f'<div class="extras">{extras}</div>'
    return f'<details class="extras"><summary>show the picture</summary>{extras}</details>'


def _test_rows(part: PartResult, index: int, test: TestResult, repeats: Mapping[int, TestResult], extras: str,
               extras_shown: bool) -> str:
    verdict = _verdict(test)
    detail = ""
    if _shows_message(test):
        detail += _message_html(test.message)
    if index in repeats:
        first = repeats[index]
        detail += (f'<div class="hint same">Hint: same as for <a href="#{_anchor("test", part.part, first.name)}">'
                   f"{_e(first.name)}</a> above.</div>")
    elif _shows_hint(test):
        detail += f'<div class="hint"><b>Hint:</b> {_e(test.hint)}</div>'
    detail += _extras_html(extras, extras_shown)
    mark = "&#10003; passed" if test.passed else "&#10007; failed"
    tag = "" if _public(test) else '<span class="tag">hidden</span>'
    row = (f'<tr class="{verdict}{" has-detail" if detail else ""}" id="{_anchor("test", part.part, test.name)}">'
           f'<td class="name">{_e(test.name)}{tag}</td><td class="result">{mark}</td>'
           f'<td class="num points">{_points(test.points)} / {_points(test.max_points)}</td></tr>')
    if detail:
        row += f'\n<tr class="detail {verdict}"><td colspan="3">{detail}</td></tr>'
    return row


def _not_run_html(part: PartResult) -> list[str]:
    out = []
    detail = _not_run_detail(part)
    if detail:
        out.append(f'<pre class="message trace">{_e(detail)}</pre>')
    names = ", ".join(_e(t.name) + ("" if _public(t) else " (hidden)") for t in part.tests)
    count = len(part.tests)
    out.append(f'<details class="not-run"><summary>{count} test{"s" if count != 1 else ""} not run '
               f"(0 of {_points(part.max_score)} points)</summary><p>{names}</p></details>")
    return out


def _part_section(part: PartResult, title: str, test_extras: TestExtras | None,
                  part_extras: PartExtras | None) -> str:
    out = [f'<section class="part" id="{_anchor("part", part.part)}">',
           f'<h2>{_e(title)} <code>{_e(part.part)}</code> <span class="score">{_points(part.score)} / '
           f"{_points(part.max_score)}</span> {_status(part.status)}</h2>"]
    meta = [f"Graded file: <code>{_e(part.source)}</code>" if part.source else "No file graded"]
    not_run = _not_run(part)
    if part.tests and not not_run:
        meta.append(f"{_passed_count(part)} tests passed")
    out.append(f'<p class="meta">{" &middot; ".join(meta)}<a href="#top">&uarr; contents</a></p>')
    if part.status != "ok" and part.message:
        out.append(f'<p class="note"><strong>{_e(part.status)}:</strong> {_e(part.message)}</p>')
    if not_run:
        out += _not_run_html(part)
    elif part.tests:
        repeats = _hint_sources(part)
        out.append('<table class="tests"><thead><tr><th>test</th><th>result</th><th class="num">points</th></tr>'
                   "</thead><tbody>")
        shown = 0
        for index, test in enumerate(part.tests):
            extras = _extras(test, test_extras)
            show = bool(extras) and not test.passed and shown < OPEN_EXTRAS_PER_PART
            shown += show
            out.append(_test_rows(part, index, test, repeats, extras, show))
        out.append("</tbody></table>")
        if any(not _public(t) for t in part.tests):
            out.append('<p class="footnote">Hidden tests show only their result.</p>')
    if part_extras is not None:
        out.append(part_extras(part) or "")
    out.append("</section>")
    return "\n".join(out)


def _contents(result: StudentResult, part_titles: Mapping[str, str]) -> str:
    rows = []
    for part in result.parts.values():
        tests = "not run" if _not_run(part) else f"{_passed_count(part)} passed" if part.tests else "no tests"
        source = f"<code>{_e(part.source)}</code>" if part.source else "none"
        rows.append(f'<tr><td><a href="#{_anchor("part", part.part)}">{_e(part_titles.get(part.part, part.part))}'
                    f'</a></td><td class="num">{_points(part.score)} / {_points(part.max_score)}'
                    f"{_bar(part.score, part.max_score)}</td><td>{_status(part.status)}</td>"
                    f'<td class="num">{tests}</td><td>{source}</td></tr>')
    return ('<nav class="contents" aria-label="Contents">'
            f'<p class="total">Total: {_points(result.total)} / {_points(result.max_total)} '
            f"{_status(result.status)}</p>"
            '<table><thead><tr><th>part</th><th class="num">points</th><th>status</th><th class="num">tests</th>'
            "<th>file graded</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table></nav>")


def feedback_html(result: StudentResult, *, title: str = "Grading report",
                  part_titles: Mapping[str, str] | None = None,
                  test_extras: TestExtras | None | Literal["auto"] = "auto",
                  part_extras: PartExtras | None = None) -> str:
    """The feedback as one standalone HTML page.

    Args:
        result: the student's result.
        title: the page heading (the course name).
        part_titles: part id -> its title, for headings.
        test_extras: returns trusted HTML to show with one public test (its figures); ``"auto"``: the figures of
            :func:`~autograder.reports.figures.figures_for_test`, unless ``part_extras`` is given; ``None``: none.
        part_extras: returns trusted HTML to add after a part's tests; see the module docstring.
    """
    part_titles = part_titles or {}
    if test_extras == "auto":
        test_extras = figures_hook("all") if part_extras is None else None
    body = [f'<h1 id="top">{_e(title)}</h1>',
            f'<p class="meta">Student: <code>{_e(result.student)}</code> &middot; graded in: '
            f"<code>{_e(result.isolation or 'unknown')}</code></p>"]
    if result.message:
        body.append(f'<p class="note">{_e(result.message)}</p>')
    if result.parts:
        body.append(_contents(result, part_titles))
    else:
        body.append(f'<p class="total">Total: {_points(result.total)} / {_points(result.max_total)} '
                    f"{_status(result.status)}</p>")
    body += [_part_section(part, part_titles.get(part.part, part.part), test_extras, part_extras)
             for part in result.parts.values()]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}: {_e(result.student)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
