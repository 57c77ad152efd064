"""The training page's "Export to ONNX" step, and the per-session model folder the draw page lists.

Importing this module does not import torch (the draw page uses ``session_token``); ``core.train.export``,
which does, is imported only when the panel is drawn, i.e. on the training page after a run.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from ui import private_apis
from ui.server_resources import export_lock
from ui.text import literal
LAST_EXPORT_KEY = "export.last"


def session_token() -> str:
    """This browser's anonymous token: its models live in their own folder and in the store, never shared."""
    from ui import store_access

    return store_access.session_token()


def _default_name(result: Any, spec: Any) -> str:
    acc = result.test.accuracy if result.test is not None else 0.0
    return f"{spec.name}-{acc * 100:.1f}".replace(".", "_")


def _export(result: Any, spec: Any, name: str) -> dict[str, Any] | None:
    from core.train import export

    try:
        with st.spinner("Exporting, checking and comparing with torch…"):
            res = export.export_for_session(result.model, spec, export.provenance(result), session_token(), name,
                                            lock=export_lock())
            data = res.onnx_path.read_bytes()
            lat = export.latency(result.model, data, dataset=res.card.dataset_key)
    except (export.ExportError, ValueError, OSError) as exc:
        st.error(f"Export failed: {exc}")
        return None
    kept = _keep(res.onnx_path.stem, data, res.card_path.read_text())
    return {"kept": kept,
        "onnx_path": str(res.onnx_path), "card_path": str(res.card_path), "name": res.card.name,
        "size": res.size_bytes, "opset": res.card.opset, "parity": res.parity.max_abs_logits,
        "parity_acts": res.parity.max_abs_activations, "digits": res.parity.digits,
        "tolerance": res.parity.tolerance, "seconds": res.seconds,
        "torch_ms": lat.torch_ms, "ort_ms": lat.onnxruntime_ms, "speedup": lat.speedup,
        "digit_model": res.card.reads_digits,
    }


def _keep(name: str, onnx: bytes, card: str) -> str:
    """Keep the export in the store under this browser's token; "" when kept, else why not (in words)."""
    from core.infer.export_quota import ExportQuota
    from core.store import models
    from core.store.store import StoreUnavailable
    from ui.store_access import store

    try:
        models.save_model(store(), session_token(), name, onnx, card, ExportQuota.from_env().session_bytes)
    except (StoreUnavailable, models.SaveRefused, ValueError) as exc:
        return str(exc)
    return ""


def _next_steps(name: str, digits: bool) -> None:
    """Links to the pages that use the exported model (absent when the panel runs outside the app)."""
    l1, l2 = st.columns(2)
    try:
        l1.page_link("pages/draw.py", icon="✏️", label="Draw a digit for it (pick it in the model list)" if digits
                     else "Try it on test images (pick it in the Draw page's model list)")
        l2.page_link("pages/network.py", icon="🔬", label="Look inside it, layer by layer",
                     query_params={"m": f"session/{name}", "src": "test"})
    except private_apis.page_not_found_error():  # a bare script (the panel's own tests) has no page list
        pass


def _show(info: dict[str, Any]) -> None:
    from pathlib import Path

    onnx_path, card_path = Path(info["onnx_path"]), Path(info["card_path"])
    if not onnx_path.exists() or not card_path.exists():
        st.info("The exported files were cleaned up; export again to download them.")
        return
    st.success(f"Saved **{literal(info['name'])}.onnx**: pick it on the Draw page.", icon="✅")
    if info.get("kept"):
        st.warning(f"Kept for this browser session only: {literal(info['kept'], 300)}", icon="⚠️")
    else:
        st.caption(_kept_sentence())
    _next_steps(info["name"], info.get("digit_model", True))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("File size", f"{info['size'] / 1024:.0f} KB")
    c2.metric("ONNX opset", info["opset"])
    c3.metric("Parity max |Δ logits|", f"{info['parity']:.1e}",
              help=f"onnxruntime vs torch on {info['digits']} test images; must be ≤ {info['tolerance']:.0e}. "
                   f"Feature maps: max |Δ| {info['parity_acts']:.1e}.")
    c4.metric("Batch-1 latency", f"{info['ort_ms'] * 1000:.0f} µs",
              delta=f"{info['speedup']:.1f}× faster than torch", delta_color="off",
              help=f"Median of 200 runs on one test image, measured just now on this server; torch took "
                   f"{info['torch_ms'] * 1000:.0f} µs.")
    d1, d2 = st.columns(2)
    d1.download_button("⬇️ Download the model (.onnx)", onnx_path.read_bytes(), file_name=onnx_path.name,
                       mime="application/octet-stream", key="export.dl_onnx")
    d2.download_button("⬇️ Download its sidecar (.json)", card_path.read_bytes(), file_name=card_path.name,
                       mime="application/json", key="export.dl_json")
    with st.expander("What the sidecar says"):
        st.json(json.loads(card_path.read_text()), expanded=False)


def _kept_sentence() -> str:
    from core.store.models import MAX_MODELS
    from ui.store_access import store

    days = store().config.retention_days
    return (f"Kept on this server for this browser (an anonymous token in it, no name): it comes back after a "
            f"reload or a server restart, for {days:g} days after you last open ConvLab here, up to "
            f"{MAX_MODELS} models. Another browser or a cleared browser storage does not see it: download "
            f"it below to keep a copy.")


def _quota_caption() -> None:
    """What this session's exports take of the bytes it may keep (an export over it is refused in words)."""
    from core.infer.export_quota import ExportQuota, folder_bytes
    from core.infer.session_folders import usable_session_dir

    quota = ExportQuota.from_env()
    folder = usable_session_dir(session_token())
    used = folder_bytes(folder) if folder is not None else 0
    st.caption(f"Your session's exported models take {used / 2**20:.1f} MB of the {quota.session_bytes / 2**20:.0f} MB "
               f"each session may keep on this server.")


def render_export_panel(result: Any, spec: Any) -> None:
    """The "Export to ONNX" step for a finished ``core.train.runner.TrainResult``."""
    st.subheader("Export to ONNX")
    st.caption("ONNX is a portable file format for trained networks: the Draw page runs it with onnxruntime, "
               "without torch. The export is checked (onnx.checker) and compared with torch on real test "
               "images of its dataset before it is saved.")
    if result is None or getattr(result, "test", None) is None:
        st.info("Train a model (without it diverging) to export it.")
        return
    _quota_caption()
    with st.form("export.form", border=False):
        name = st.text_input("Model name", value=_default_name(result, spec), max_chars=48,
                             help="Letters, digits, '-' and '_'; anything else becomes '-'.")
        go = st.form_submit_button("Export to ONNX", type="primary")
    if go:
        info = _export(result, spec, name)
        if info is not None:
            st.session_state[LAST_EXPORT_KEY] = info
    info = st.session_state.get(LAST_EXPORT_KEY)
    if info:
        _show(info)
