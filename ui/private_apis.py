"""Every use of Streamlit's and plotly's private internals, in one place: what, why, and the versions checked.

Both are pinned in requirements.txt. An upgrade is a one-file review: tests/test_private_apis.py fails
while an installed version differs from ``CHECKED_VERSIONS``; read each entry of ``PRIVATE_USES`` against
the new version, then move the pin and ``CHECKED_VERSIONS`` together.

Each function here either works or says it cannot (returns None / False, never raises), so a changed
internal costs a feature its fast path, not the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

CHECKED_VERSIONS = {"streamlit": "1.67.0", "plotly": "7.1.0"}


@dataclass(frozen=True)
class PrivateUse:
    what: str  # the internal, as imported
    why: str  # what ConvLab needs it for, and what happens without it


PRIVATE_USES: tuple[PrivateUse, ...] = (
    PrivateUse("streamlit.runtime.pages_manager.PagesManager.uses_pages_directory",
               "A deep link as the first request to a fresh server puts Streamlit in its legacy pages/ mode; "
               "switched off once per process (ui/nav.py). Without it that first page has the wrong menu."),
    PrivateUse("streamlit.runtime.app_session.AppSession.request_rerun + streamlit.proto.ClientState_pb2",
               "After a failover the new replica drops a rerun request for a fragment it never saw; the "
               "wrapper turns it into a full run. Without it a touch inside a lesson does nothing."),
    PrivateUse("streamlit.delta_generator_singletons.get_dg_singleton_instance, "
               "streamlit.elements.lib.{form_utils.current_form_id, layout_utils.LayoutConfig, "
               "utils.compute_and_register_element_id}, streamlit.proto.PlotlyChart_pb2, DeltaGenerator._enqueue",
               "st.plotly_chart re-encodes a figure on every run; ui/fastfig.py sends a cached spec. On any "
               "error it falls back to st.plotly_chart for the rest of the process."),
    PrivateUse("_plotly_utils.utils.convert_to_base64, to_typed_array_spec",
               "Plotly's own base64 array encoding, applied once to a cached figure (ui/fastfig.py) instead of "
               "on every run; without it figures are sent through st.plotly_chart."),
    PrivateUse("streamlit.errors.StreamlitPageNotFoundError",
               "st.page_link raises it when a panel runs outside the app (its own tests); the links are left out."),
)


def leave_legacy_pages_mode() -> bool:
    """Switch the process out of Streamlit's legacy pages/ mode; True when it was in it (then rerun)."""
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - only on another Streamlit version
        return False
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        return True
    return False


def full_run_for_lost_fragments() -> None:
    """Wrap ``AppSession.request_rerun`` once per process (idempotent: the entry script runs on every rerun):
    a rerun request for a fragment this session does not hold becomes a full run with the same widget values."""
    try:
        from streamlit.proto.ClientState_pb2 import ClientState
        from streamlit.runtime.app_session import AppSession
    except ImportError:  # pragma: no cover - only on another Streamlit version
        return
    if getattr(AppSession, "_convlab_lost_fragments", False):
        return
    original = AppSession.request_rerun

    def request_rerun(self, client_state=None):  # type: ignore[no-untyped-def]
        if client_state is not None and client_state.fragment_id and not self.has_fragment(client_state.fragment_id):
            whole = ClientState()
            whole.CopyFrom(client_state)
            whole.fragment_id = ""
            client_state = whole
        return original(self, client_state)

    AppSession.request_rerun = request_rerun
    AppSession._convlab_lost_fragments = True


@dataclass(frozen=True)
class PlotlyParts:
    """What st.plotly_chart itself uses to put a chart on the page."""

    main_dg: Callable[[], Any]
    current_form_id: Callable[[Any], str]
    layout_config: Callable[..., Any]
    element_id: Callable[..., str]
    chart_proto: Callable[[], Any]


def plotly_parts() -> PlotlyParts | None:
    """Streamlit's plotly pieces, or None when this Streamlit moved any of them."""
    try:
        from streamlit.delta_generator_singletons import get_dg_singleton_instance
        from streamlit.elements.lib.form_utils import current_form_id
        from streamlit.elements.lib.layout_utils import LayoutConfig
        from streamlit.elements.lib.utils import compute_and_register_element_id
        from streamlit.proto.PlotlyChart_pb2 import PlotlyChart
    except Exception:  # noqa: BLE001 - any failure means: use st.plotly_chart
        return None
    return PlotlyParts(lambda: get_dg_singleton_instance().main_dg, current_form_id, LayoutConfig,
                       compute_and_register_element_id, PlotlyChart)


def page_not_found_error() -> type[Exception]:
    """The exception st.page_link raises outside a multipage app (Exception itself if it moved)."""
    try:
        from streamlit.errors import StreamlitPageNotFoundError
    except ImportError:  # pragma: no cover - only on another Streamlit version
        return Exception
    return StreamlitPageNotFoundError


@dataclass(frozen=True)
class PlotlyArrays:
    to_base64: Callable[[Any], None]  # encodes the numeric arrays of a figure dict in place
    typed_array: Callable[[Any], dict]  # one array as plotly's {"dtype", "bdata"} spec


def plotly_arrays() -> PlotlyArrays | None:
    """Plotly's array encoders, or None when this plotly moved them."""
    try:
        from _plotly_utils.utils import convert_to_base64, to_typed_array_spec
    except Exception:  # noqa: BLE001
        return None
    return PlotlyArrays(convert_to_base64, to_typed_array_spec)
