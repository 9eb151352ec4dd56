"""Reports people look at: ``report.html`` (self-contained) and ``report.md`` for one or more runs."""

from .render import write_report

__all__ = ["write_report"]
