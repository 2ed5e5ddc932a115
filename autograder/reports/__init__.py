"""Reports: pure functions from results to text (CSV, Gradescope JSON, Markdown, HTML). No I/O here."""
from autograder.reports.feedback import feedback_html, feedback_markdown
from autograder.reports.grades import format_points, grades_csv
from autograder.reports.gradescope import gradescope_results

__all__ = ["feedback_html", "feedback_markdown", "format_points", "grades_csv", "gradescope_results"]
