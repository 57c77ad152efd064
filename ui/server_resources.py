"""The server-wide objects every session shares: one memory budget, one download gate.

Both are plain ``core`` classes; ``st.cache_resource`` makes each a single instance per server process
(``core`` itself keeps no mutable state at module level). Importing this module loads neither torch nor
onnxruntime, so every page may use it.
"""

from __future__ import annotations

import threading

import streamlit as st

from core.arch.budget import BudgetSettings, MemoryBudget
from core.data.download import SingleFlight


@st.cache_resource(show_spinner=False)
def memory_budget() -> MemoryBudget:
    """What admitted work (training, evaluation, decoding uploads, converting datasets, loading session
    models) may use at once on this server: its memory limit less a margin (``core.arch.budget``)."""
    return MemoryBudget(BudgetSettings.from_env())


@st.cache_resource(show_spinner=False)
def download_gate() -> SingleFlight:
    """One download per dataset per server; a second request follows the first one's progress."""
    return SingleFlight()


@st.cache_resource(show_spinner=False)
def export_lock() -> threading.Lock:
    """Held from an export's disk-quota check to the end of its write (``ExportQuota.reserve``)."""
    return threading.Lock()
