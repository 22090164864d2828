"""Reports of a run: JSON (the canonical record), JUnit XML, Markdown, HTML, terminal; baseline diff."""

from evals.reports.baseline import Comparison, compare
from evals.reports.html import to_html
from evals.reports.junit import to_junit
from evals.reports.markdown import to_markdown
from evals.reports.terminal import print_summary

__all__ = ["Comparison", "compare", "print_summary", "to_html", "to_junit", "to_markdown"]
