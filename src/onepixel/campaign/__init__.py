"""Campaigns: the paper's evaluation protocols as resumable lists of attacks, their store and metrics."""

from .evaluate import evaluate
from .metrics import summarize
from .protocol import WorkUnit, make_units
from .store import ResultStore, load_results

__all__ = ["ResultStore", "WorkUnit", "evaluate", "load_results", "make_units", "summarize"]
