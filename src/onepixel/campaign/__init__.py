"""Campaigns: the paper's evaluation protocols as resumable lists of attacks, their store and metrics."""

from .evaluate import evaluate
from .metrics import summarize
from .protocol import WorkUnit, make_units
from .store import ResultStore, load_results
from .verify import Verification, verification_line, verify_run

__all__ = ["ResultStore", "Verification", "WorkUnit", "evaluate", "load_results", "make_units", "summarize", "verification_line", "verify_run"]
