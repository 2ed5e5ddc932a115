"""Pictures for the feedback page: pure functions from the numbers a test kept to an HTML ``<figure>``.

A graded test stores small JSON-able data with the ``feedback`` fixture; it
arrives here as ``TestResult.extra``. Each key below is drawn by one
function; :func:`figures_for_part` finds the keys in a part's tests and
returns the figures as HTML snippets (:func:`figures_for_test`: one test's),
:func:`part_figures` is the ``part_extras`` hook of
:func:`~autograder.reports.feedback.feedback_html`.

Keys (lists are per layer / parameter / epoch; a number may also be the text "nan", "inf", "-inf"):

* ``std_per_layer``: ``{"activation": "ReLU, ...", "series": [{"label": "scale 0.01", "student": [std, ...],
  "reference": [std, ...]}, ...]}``, or one series as ``{"student": [...], "reference": [...]}``.
* ``relative_errors``: ``{"title": "...", "series": {"your gradients vs numerical": {"W1": 3e-10, ...}, ...}}``
  (title optional), or one series as ``{"W1": 3e-10, ...}``.
* ``loss_curves``: ``{"case": "lecture example", "train": [...], "val": [...] or None, "found": "[HEALTHY]",
  "expected": "[OVERFITTING]"}``.
* ``history``: ``{"loss": [...], "accuracy": [...], "val_loss": [...], "val_accuracy": [...]}`` (any subset),
  with the same test's ``held_out_accuracy`` and ``min_accuracy`` (numbers) beside it.

Only public tests are drawn: a hidden test's data may hold its inputs or
expected values, and a hidden test shows its result only. Everything a test
stored came, in part, from the student's code, so each function checks
types and sizes, draws a non-finite value as a marker instead of failing,
renders student text as pixels (PNG, default) without parsing it as
mathtext, and :func:`figures_for_part` drops a figure that cannot be drawn
rather than the report. No network, no pyplot state: a Matplotlib ``Figure``
with the Agg renderer, fixed metadata, so the same data gives the same bytes.
"""
from __future__ import annotations

import base64
import html
import io
import logging
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence

from autograder.config import FIGURE_POLICIES
from autograder.results import PartResult, TestResult

log = logging.getLogger(__name__)

FORMATS = ("png", "svg")
DPI = 110
WIDTH_IN, HEIGHT_IN = 7.0, 3.3
MAX_POINTS = 500  # values per curve
MAX_SERIES = 8
MAX_FIGURES_PER_PART = 3
MAX_TEXT = 90
LOG_RANGE = (1e-30, 1e30)  # what a log axis shows: far outside anything meaningful, far inside overflow
# CS231n's reading of a gradient check's relative error.
GRADCHECK_BANDS = ((1e-2, math.inf, "#ffd7d5", "> 1e-2: wrong"),
                   (1e-4, 1e-2, "#fff1c2", "1e-4 to 1e-2: suspicious"),
                   (1e-7, 1e-4, "#e8f5e9", "1e-7 to 1e-4: fine with ReLU kinks"),
                   (0.0, 1e-7, "#d5f0dc", "< 1e-7: good"))
_STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#e5e7eb", "grid.linewidth": 0.6, "axes.edgecolor": "#6b7280", "font.family": "DejaVu Sans",
    "svg.fonttype": "none", "svg.hashsalt": "autograder", "figure.facecolor": "white",
}
_COLORS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#0598bc", "#6e7781", "#bf3989")
_STUDENT, _REFERENCE = "#0969da", "#57606a"


class FigureDataError(ValueError):
    """A test's stored data is not what the figure expects (wrong type, empty)."""


# ---------------------------------------------------------------- data checks


def _number(value) -> float:
    """A float from a number or from ``"nan"``/``"inf"``/``"-inf"`` (how strict JSON carries them)."""
    if isinstance(value, bool):
        raise FigureDataError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("nan", "inf", "+inf", "-inf", "infinity", "-infinity"):
        return float(value)
    try:
        return float(value)  # NumPy scalars
    except (TypeError, ValueError):
        raise FigureDataError(f"expected a number, got {type(value).__name__}") from None


def _numbers(values, name: str) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise FigureDataError(f"{name} must be a list of numbers")
    return [_number(v) for v in list(values)[:MAX_POINTS]]


def _text(value, limit: int = MAX_TEXT) -> str:
    """Printable one-line text, at most ``limit`` characters."""
    text = " ".join(str(value).split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(value, limit: int = MAX_TEXT) -> str:
    """:func:`_text` for a legend entry or tick label, whose ``$`` Matplotlib would read as mathtext."""
    return _text(value, limit).replace("$", r"\$")


def _finite(values: list[float]) -> tuple[list[int], list[float]]:
    pairs = [(i + 1, v) for i, v in enumerate(values) if math.isfinite(v)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


# ---------------------------------------------------------------- drawing and encoding


def _new_figure(width: float = WIDTH_IN, height: float = HEIGHT_IN, ncols: int = 1):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, list(axes)


def _encode(figure, fmt: str) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    if fmt == "png":
        figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        return "image/png", _smaller_png(buffer.getvalue())
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return "image/svg+xml", buffer.getvalue()


def _smaller_png(data: bytes) -> bytes:
    """The PNG with a 256-colour palette (a plot has few colours): about a third of the bytes, the same look."""
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with Matplotlib; without it the full-colour PNG is fine
        return data
    image = Image.open(io.BytesIO(data)).convert("RGB")
    palette = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def figure_html(draw: Callable[[], object], *, alt: str, caption: str = "", fmt: str = "png") -> str:
    """Draw a figure with the house style and return it as an inert ``<figure>`` (an ``<img>`` with a data URI).

    ``draw`` returns a Matplotlib ``Figure``. ``alt`` and ``caption`` are escaped.
    """
    import matplotlib

    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    with matplotlib.rc_context(_STYLE):
        figure = draw()
        mime, data = _encode(figure, fmt)
    width, height = (round(v * DPI) for v in figure.get_size_inches())
    figcaption = f'<figcaption style="color:#57606a;font-size:.85em">{html.escape(caption)}</figcaption>' \
        if caption else ""
    return (f'<figure class="autograder-figure" style="margin:1em 0">'
            f'<img src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}" alt="{html.escape(alt)}" '
            f'width="{width}" height="{height}" style="max-width:100%;height:auto">{figcaption}</figure>')


def _mark_non_finite(ax, values: list[float], color: str) -> int:
    """Mark each epoch/layer whose value is nan or inf on the top edge, with its value; return how many."""
    bad = [(i + 1, v) for i, v in enumerate(values) if not math.isfinite(v)]
    transform = ax.get_xaxis_transform()
    for x, value in bad[:40]:
        ax.plot([x], [0.97], linestyle="none", marker="v", markersize=6, color=color, clip_on=False,
                transform=transform, zorder=4)
        ax.text(x, 0.93, str(value), transform=transform, ha="center", va="top", fontsize=7.5, color=color,
                parse_math=False, zorder=4)
    return len(bad)


# ---------------------------------------------------------------- the figures


def _series_std(data) -> list[tuple[str, list[float], list[float]]]:
    if not isinstance(data, Mapping):
        raise FigureDataError("std_per_layer must be an object")
    raw = data.get("series")
    if raw is None:
        raw = [{"label": "", "student": data.get("student", []), "reference": data.get("reference", [])}]
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)) or not raw:
        raise FigureDataError("std_per_layer.series must be a non-empty list")
    series = []
    for item in list(raw)[:MAX_SERIES]:
        if not isinstance(item, Mapping):
            raise FigureDataError("each std_per_layer series must be an object")
        series.append((_label(item.get("label", ""), 30), _numbers(item.get("student") or [], "student"),
                       _numbers(item.get("reference") or [], "reference")))
    return series


def std_per_layer_figure(data, *, fmt: str = "png", caption: str = "") -> str:
    """Activation std per layer, yours (solid) against the reference (dashed), log scale.

    Collapsing curves are vanishing activations; climbing ones, exploding.
    """
    series = _series_std(data)
    activation = _text(data.get("activation", ""), 40) if isinstance(data, Mapping) else ""

    def draw():
        from matplotlib.lines import Line2D

        figure, (ax,) = _new_figure()
        hidden = 0
        for index, (label, student, reference) in enumerate(series):
            color = _COLORS[index % len(_COLORS)]
            for values, who in ((reference, "reference"), (student, "yours")):
                keep = [(i + 1, min(max(v, LOG_RANGE[0]), LOG_RANGE[1])) for i, v in enumerate(values)
                        if math.isfinite(v) and v > 0]
                hidden += len(values) - len(keep) if who == "yours" else 0
                if not keep:
                    continue
                if who == "yours":
                    ax.plot(*zip(*keep, strict=True), "-o", color=color, markersize=3.5, linewidth=1.8,
                            label=label or "yours", zorder=3)
                else:
                    ax.plot(*zip(*keep, strict=True), color=color, linewidth=5, alpha=0.25, zorder=2,
                            solid_capstyle="round")
            _mark_non_finite(ax, student, color)
        ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel("std of the activations")
        title = "Activation scale through the network"
        ax.set_title(f"{title} ({activation})" if activation else title, parse_math=False)
        ax.xaxis.get_major_locator().set_params(integer=True)
        handles, labels = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="#6e7781", marker="o", markersize=3.5, linewidth=1.8),
                    Line2D([], [], color="#6e7781", linewidth=5, alpha=0.25)]
        labels += ["yours (line and dots)", "reference (wide band)"]
        ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        if hidden:
            ax.text(0.01, 0.02, f"{hidden} of your value(s) not > 0 or not finite: not drawn on a log scale",
                    transform=ax.transAxes, fontsize=7.5, color="#cf222e", parse_math=False)
        return figure

    return figure_html(draw, alt="Activation standard deviation per layer: yours against the reference",
                       caption=caption, fmt=fmt)


def _error_series(data) -> list[tuple[str, dict[str, float]]]:
    if not isinstance(data, Mapping):
        raise FigureDataError("relative_errors must be an object")
    raw = data.get("series", None)
    if raw is None:
        raw = {"relative error": {k: v for k, v in data.items() if k != "title"}}
    if not isinstance(raw, Mapping) or not raw:
        raise FigureDataError("relative_errors.series must be a non-empty object")
    series = []
    for label, errors in list(raw.items())[:MAX_SERIES]:
        if not isinstance(errors, Mapping) or not errors:
            raise FigureDataError("each relative_errors series must map parameter names to numbers")
        series.append((_label(label, 40), {_label(k, 12): _number(v) for k, v in list(errors.items())[:24]}))
    return series


def relative_errors_figure(data, *, fmt: str = "png", caption: str = "") -> str:
    """Relative error per parameter of a gradient check, log scale, with CS231n's bands."""
    series = _error_series(data)
    names = list(dict.fromkeys(name for _, errors in series for name in errors))
    title = _text(data.get("title") or "Gradient check: your analytic gradients against numerical ones")

    def draw():
        from matplotlib.patches import Patch

        figure, (ax,) = _new_figure(height=HEIGHT_IN + 0.4)
        values = [v for _, errors in series for v in errors.values() if math.isfinite(v) and v > 0]
        low = max(min([1e-12, *values]) / 3, LOG_RANGE[0])
        high = min(max([1.0, *values]) * 3, LOG_RANGE[1])
        top = high * (1e3 if len(series) > 1 else 30)  # room for the labels above the tallest bar
        for start, stop, color, label in GRADCHECK_BANDS:
            ax.axhspan(max(start, low), min(stop, top), color=color, zorder=0, linewidth=0)
            ax.text(1.01, math.sqrt(max(start, low) * min(stop, high)), label, transform=ax.get_yaxis_transform(),
                    fontsize=7.5, va="center", color="#57606a", parse_math=False)
        width = 0.8 / len(series)
        vertical = len(series) > 1
        handles = []
        for index, (label, errors) in enumerate(series):
            color = _COLORS[index % len(_COLORS)]
            for name, value in errors.items():
                x = names.index(name) - 0.4 + width * (index + 0.5)
                if math.isfinite(value) and value > 0:
                    bar_top, text, hatch = min(max(value, low), high), f"{value:.0e}", None
                elif value == 0:
                    bar_top, text, hatch = low, "0", None
                else:
                    bar_top, text, hatch = high, "nan/inf" if not math.isfinite(value) else f"{value:.0e}", "//"
                ax.bar(x, bar_top - low, bottom=low, width=width * 0.9, color=color, hatch=hatch, zorder=2,
                       edgecolor="white" if hatch else color, linewidth=0)
                ax.text(x, bar_top * 1.6, text, ha="center", va="bottom", fontsize=7,
                        rotation=90 if vertical else 0, parse_math=False, zorder=3)
            handles.append(Patch(color=color, label=label))
        ax.set_yscale("log")
        ax.set_ylim(low, top)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_xticks(range(len(names)), names)
        ax.set_ylabel("relative error (CS231n)")
        ax.set_title(title, parse_math=False)
        ax.grid(axis="x", visible=False)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(series), 3),
                  frameon=False)
        return figure

    return figure_html(draw, alt="Relative error per parameter of the gradient check, with the CS231n thresholds",
                       caption=caption, fmt=fmt)


def loss_curves_figure(data, *, fmt: str = "png", caption: str = "") -> str:
    """A training (and validation) loss curve with the diagnosis expected and the one found."""
    if not isinstance(data, Mapping):
        raise FigureDataError("loss_curves must be an object")
    train = _numbers(data.get("train") or [], "train")
    val = _numbers(data["val"], "val") if data.get("val") is not None else None
    if not train:
        raise FigureDataError("loss_curves.train is empty")
    case = _text(data.get("case", ""), 50)
    found, expected = _text(data.get("found", "")), _text(data.get("expected", ""))

    def draw():
        figure, (ax,) = _new_figure(height=HEIGHT_IN + 0.3)
        ax.plot(*_finite(train), "-o", color=_STUDENT, markersize=3.5, label="training loss")
        bad = _mark_non_finite(ax, train, _STUDENT)
        if val is not None:
            ax.plot(*_finite(val), "-s", color="#bc4c00", markersize=3.5, label="validation loss")
            bad += _mark_non_finite(ax, val, "#bc4c00")
            finite_val = [v for v in val if math.isfinite(v)]
            if len(finite_val) >= 2 and len(finite_val) == len(val):
                best = min(val)
                ax.plot(val.index(best) + 1, best, "*", color="#bc4c00", markersize=10, label="best validation loss")
                ax.axhline(best + 0.1 * abs(best), color="#cf222e", linewidth=0.8, linestyle="--",
                           label="best + 10%:\nlast above it = overfitting")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"Loss curves: {case}" if case else "Loss curves", parse_math=False, pad=10)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        lines = []
        for label, text in (("expected: ", expected), ("yours:    ", found)):
            if text:  # at most 3 lines of 30 characters each: the box sits beside the plot
                wrapped = textwrap.wrap(text, 30, break_long_words=True)[:3] or [""]
                lines += [label + wrapped[0], *("          " + more for more in wrapped[1:])]
        if bad:
            lines.append(f"▼ {bad} nan/inf value(s)")
        if lines:
            agrees = bool(found) and found == expected
            ax.text(1.03, 0.0, "\n".join(lines), transform=ax.transAxes, fontsize=8, family="DejaVu Sans Mono",
                    va="bottom", ha="left", parse_math=False,
                    bbox={"boxstyle": "round,pad=0.4", "facecolor": "#f0fff4" if agrees else "#fff5f5",
                          "edgecolor": "#1a7f37" if agrees else "#cf222e", "linewidth": 0.8})
        return figure

    return figure_html(draw, alt=f"Loss curves for {case or 'a case'}: expected {expected}, found {found}",
                       caption=caption, fmt=fmt)


def history_figure(history, *, held_out_accuracy=None, min_accuracy=None, fmt: str = "png",
                   caption: str = "") -> str:
    """Training curves: loss and accuracy per epoch (training and validation), with the held-out accuracy."""
    if not isinstance(history, Mapping):
        raise FigureDataError("history must be an object")
    curves = {key: _numbers(history[key], key) for key in ("loss", "accuracy", "val_loss", "val_accuracy")
              if key in history and history[key] is not None}
    if not any(curves.values()):
        raise FigureDataError("history has no curve")
    held = _number(held_out_accuracy) if held_out_accuracy is not None else None
    threshold = _number(min_accuracy) if min_accuracy is not None else None

    def draw():
        figure, (left, right) = _new_figure(height=HEIGHT_IN + 0.4, ncols=2)
        for ax, keys, name in ((left, ("loss", "val_loss"), "loss"), (right, ("accuracy", "val_accuracy"),
                                                                        "accuracy")):
            for key, color, marker in ((keys[0], _STUDENT, "o"), (keys[1], "#bc4c00", "s")):
                if curves.get(key):
                    ax.plot(*_finite(curves[key]), f"-{marker}", color=color, markersize=3,
                            label="training" if key == keys[0] else "validation")
                    _mark_non_finite(ax, curves[key], color)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.xaxis.get_major_locator().set_params(integer=True)
        if held is not None and math.isfinite(held):
            right.axhline(held, color="#1a7f37", linewidth=1.2, label=f"held-out digits: {held:.1%}")
        if threshold is not None and math.isfinite(threshold):
            right.axhline(threshold, color="#cf222e", linewidth=0.9, linestyle="--",
                          label=f"needed: {threshold:.0%}")
            low, high = right.get_ylim()
            right.set_ylim(min(low, threshold - 0.02), max(high, threshold + 0.02))
        for ax in (left, right):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        return figure

    alt = "Training curves: loss and accuracy per epoch"
    if held is not None and math.isfinite(held):
        alt += f"; held-out accuracy {held:.1%}"
    return figure_html(draw, alt=alt, caption=caption, fmt=fmt)


# ---------------------------------------------------------------- per part

FIGURE_KEYS = ("std_per_layer", "relative_errors", "loss_curves", "history")


def _figure_for(key: str, extra: Mapping, caption: str, fmt: str) -> str:
    if key == "std_per_layer":
        return std_per_layer_figure(extra[key], fmt=fmt, caption=caption)
    if key == "relative_errors":
        return relative_errors_figure(extra[key], fmt=fmt, caption=caption)
    if key == "loss_curves":
        return loss_curves_figure(extra[key], fmt=fmt, caption=caption)
    return history_figure(extra[key], held_out_accuracy=extra.get("held_out_accuracy"),
                          min_accuracy=extra.get("min_accuracy"), fmt=fmt, caption=caption)


def _caption(test: TestResult) -> str:
    verdict = "passed" if test.passed else "failed"
    return f"From the test {test.name} ({verdict})."


def figures_for_test(test: TestResult, *, fmt: str = "png") -> list[str]:
    """The figures of one test, as HTML snippets: none for a hidden test; malformed data is skipped (logged).

    For a feedback page that shows a test's pictures beside its row (see :func:`figures_for_part` for a part's).
    """
    if test.visibility != "public" or not isinstance(test.extra, Mapping):
        return []
    snippets = []
    for key in FIGURE_KEYS:
        if key not in test.extra:
            continue
        try:
            snippets.append(_figure_for(key, test.extra, _caption(test), fmt))
        except Exception as exc:  # noqa: BLE001 - the student's numbers must never break the report
            log.warning("no %s figure for %s/%s: %s", key, test.part, test.name, exc)
    return snippets


def figures_for_part(part: str, tests: Iterable[TestResult], *, fmt: str = "png",
                     limit: int = MAX_FIGURES_PER_PART) -> list[str]:
    """The figures of one part's public tests, as HTML snippets (trusted: made here from numbers).

    Failed tests come first (their pictures explain the failure), then the
    others, in test order; at most ``limit``. A figure whose data is malformed
    is left out (logged), never an error.
    """
    chosen = [t for t in tests if t.part == part and t.visibility == "public" and isinstance(t.extra, Mapping)
              and any(key in t.extra for key in FIGURE_KEYS)]
    chosen.sort(key=lambda t: t.passed)  # stable: failed first, each group in test order
    snippets: list[str] = []
    for test in chosen:
        if len(snippets) >= limit:
            break
        snippets += figures_for_test(test, fmt=fmt)[: limit - len(snippets)]
    return snippets


def figures_hook(policy: str) -> Callable[[TestResult], str] | None:
    """The ``test_extras`` hook of ``feedback_html`` for a ``[feedback] figures`` policy.

    ``"failed"``: the pictures of failed public tests only (a full-marks page
    costs no drawing); ``"all"``: of every public test; ``"none"``: ``None``.

    Raises:
        ValueError: an unknown policy.
    """
    if policy not in FIGURE_POLICIES:
        raise ValueError(f"unknown figures policy {policy!r} ({', '.join(FIGURE_POLICIES)})")
    if policy == "none":
        return None

    def hook(test: TestResult) -> str:
        if policy == "failed" and test.passed:
            return ""
        return "".join(figures_for_test(test))

    return hook


def part_figures(part: PartResult) -> str:
    """The ``part_extras`` hook of ``feedback_html``: the part's figures under a small heading, or ``""``."""
    snippets = figures_for_part(part.part, part.tests)
    if not snippets:
        return ""
    return '<div class="figures"><h3 style="font-size:1em;margin:1em 0 .2em">Pictures</h3>' + "".join(snippets) + \
        "</div>"
