"""A light simulated student: Streamlit's own websocket protocol, no browser (used by ``bench_capacity``).

A browser talks to a Streamlit server over one websocket, ``/_stcore/stream``: it sends ``BackMsg``
protobufs (``rerun_script`` carries the page's query string, its ``page_script_hash``, every widget's
value and, when the widget sits inside an ``st.fragment``, that fragment's id) and receives ``ForwardMsg``
protobufs (``new_session`` at the start of a run, ``delta`` for each element, ``page_info_changed`` with
the query string, ``script_finished`` at the end). Both classes ship with streamlit (``streamlit.proto``).

:class:`SimStudent` opens the page the way a browser does (a ``rerun_script`` with the page name and
query string and no widget values), learns the widget ids, fragment ids and page hash from what the
server sends back, and then sends the same ``rerun_script`` a browser sends for an interaction: either a
message recorded from a real browser (:class:`FrameRecorder`) replayed with the ids checked against the
ones it learned, or a slider step it builds itself from the slider's delta (:meth:`SimStudent.slider_step`).
An interaction's answer time is from sending the message to the ``script_finished`` of the run it caused.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import re
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import websockets
from PIL import Image
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

# A run that ended normally; FINISHED_EARLY_FOR_RERUN (st.rerun, or a newer message) is not an answer yet.
ANSWERED = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
PNG_RE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
INK_RE = re.compile(r"ink(\d+)/(deflate|raw);base64,([A-Za-z0-9+/=]+)")  # ConvLab's canvas (ui/canvas.py)
MAX_FRAME = 64 * 2**20  # the server bounds its own messages (server.maxMessageSize, 200 MB); a page is far less


class ProtocolMismatch(RuntimeError):
    """A recorded message names a widget or fragment the simulated student's page does not have."""


@dataclass
class Widget:
    id: str
    kind: str  # the Element oneof: "slider", "bidi_component", "button", ...
    label: str
    fragment_id: str  # "" outside a fragment
    element: object  # the widget's own proto (e.g. Slider), as last sent


@dataclass
class Answer:
    seconds: float  # send → script_finished
    found: bool  # the answer text arrived in this run's messages
    status: int  # the script_finished status
    bytes_in: int  # what the run sent back (websocket payloads)


@dataclass
class SimStudent:
    """One student's session over one websocket. ``url`` is the server (``http://host:port``)."""

    url: str
    path: str  # "/draw"
    timeout_s: float = 60.0
    widgets: dict[str, Widget] = field(default_factory=dict)
    fragments: set[str] = field(default_factory=set)
    page_hash: str = ""
    query: str = ""
    _ws: object = None
    _cache: dict[str, ForwardMsg] = field(default_factory=dict)  # hash → cacheable message (ref_hash)
    _states: dict[str, WidgetState] = field(default_factory=dict)  # what this student sent last, by id

    async def connect(self) -> None:
        parts = urlsplit(self.url)
        self._ws = await websockets.connect(
            f"ws://{parts.netloc}/_stcore/stream", subprotocols=["streamlit"], origin=self.url,
            max_size=MAX_FRAME, ping_interval=None, open_timeout=self.timeout_s)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def open_page(self, query: str = "", context: ClientState | None = None,
                        needle: bytes | None = None) -> Answer:
        """The first run, as a browser asks for it: page name and query string, no widget values."""
        state = ClientState(query_string=query, page_name=self.path.strip("/"))
        state.widget_states.SetInParent()
        if context is not None and context.HasField("context_info"):
            state.context_info.CopyFrom(context.context_info)
        state.context_info.url = self.url + self.path
        return await self._run(state, needle)

    async def replay(self, recorded: ClientState, needle: bytes | None) -> Answer:
        """Send a browser's recorded ``rerun_script`` again, as this student (checked: see ``adapt``)."""
        return await self._run(self.adapt(recorded), needle)

    def adapt(self, recorded: ClientState) -> ClientState:
        """The recorded message with this session's page hash, query string and URL; every widget and
        fragment it names must be one this session's page has (else ``ProtocolMismatch``)."""
        missing = [w.id for w in recorded.widget_states.widgets if w.id not in self.widgets]
        if missing:
            raise ProtocolMismatch(f"recorded widget ids not on the simulated page: {missing[:3]}")
        if recorded.fragment_id and recorded.fragment_id not in self.fragments:
            raise ProtocolMismatch(f"recorded fragment {recorded.fragment_id} not on the simulated page")
        state = ClientState()
        state.CopyFrom(recorded)
        state.page_script_hash, state.query_string = self.page_hash, self.query
        state.context_info.url = self.url + self.path
        if recorded.cached_message_hashes:  # the browser keeps a message cache: so does this student
            del state.cached_message_hashes[:]
            state.cached_message_hashes.extend(sorted(self._cache))
        return state

    def slider_step(self, label: str, by: int) -> ClientState:
        """The ``rerun_script`` a browser sends when the slider ``label`` moves ``by`` steps: every widget
        value this student sent before, the slider's new value, and the slider's fragment id."""
        slider = next((w for w in self.widgets.values() if w.kind == "slider" and w.label == label), None)
        if slider is None:
            raise ProtocolMismatch(f"no slider labelled {label!r} on the simulated page")
        el = slider.element
        # Like the browser, this student remembers what it sent: later deltas of a keyed slider carry only
        # its default, the first one the value the page set (e.g. from the link).
        sent = self._states.get(slider.id)
        now = list(sent.double_array_value.data) if sent is not None else list(el.value or el.default)
        new = WidgetState(id=slider.id)
        new.double_array_value.data.extend(min(el.max, max(el.min, v + by * el.step)) for v in now)
        self._states[slider.id] = new
        state = ClientState(query_string=self.query, page_script_hash=self.page_hash,
                            fragment_id=slider.fragment_id)
        state.widget_states.widgets.extend(self._states.values())
        state.context_info.url = self.url + self.path
        return state

    async def send(self, state: ClientState, needle: bytes | None) -> Answer:
        return await self._run(state, needle)

    async def _run(self, state: ClientState, needle: bytes | None) -> Answer:
        for w in state.widget_states.widgets:
            self._states[w.id] = w
        msg = BackMsg()
        msg.rerun_script.CopyFrom(state)
        t0 = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        found, size = needle is None, 0
        while True:
            raw = await asyncio.wait_for(self._ws.recv(), timeout=self.timeout_s)
            size += len(raw)
            found = found or needle in raw
            received = ForwardMsg()
            received.ParseFromString(raw)
            fmsg = self._resolve(received)
            if fmsg.WhichOneof("type") == "script_finished" and fmsg.script_finished in ANSWERED:
                return Answer(time.perf_counter() - t0, found, fmsg.script_finished, size)
            if not found and fmsg is not received:  # a cached message named by its ref_hash
                found = needle in fmsg.SerializeToString()
            self._learn(fmsg)

    def _resolve(self, fmsg: ForwardMsg) -> ForwardMsg:
        """A ``ref_hash`` message stands for a message this client cached; cache the cacheable ones."""
        if fmsg.WhichOneof("type") == "ref_hash":
            return self._cache.get(fmsg.ref_hash, fmsg)
        if fmsg.metadata.cacheable and fmsg.hash:
            self._cache[fmsg.hash] = fmsg
        return fmsg

    def _learn(self, fmsg: ForwardMsg) -> None:
        kind = fmsg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = fmsg.new_session.page_script_hash
        elif kind == "navigation":  # st.navigation: the page's own hash (new_session's is the entry script's)
            self.page_hash = fmsg.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = fmsg.page_info_changed.query_string
        elif kind == "delta":
            delta = fmsg.delta
            if delta.fragment_id:
                self.fragments.add(delta.fragment_id)
            if delta.WhichOneof("type") == "new_element":
                which = delta.new_element.WhichOneof("type")
                sub = getattr(delta.new_element, which) if which else None
                wid = getattr(sub, "id", "") if sub is not None else ""
                if isinstance(wid, str) and wid:
                    self.widgets[wid] = Widget(wid, which, getattr(sub, "label", ""), delta.fragment_id, sub)


def varied(state: ClientState, rng: np.random.Generator) -> ClientState:
    """``state`` with every drawing in it moved by up to 3 pixels and its ink dimmed by up to 10 %: each
    replayed digit is a new image, as a real student's is, so the page's caches keyed by the drawing do not
    answer it for free. A drawing is a PNG data URL (streamlit-drawable-canvas) or ConvLab's canvas payload
    ``ink280/deflate;base64,…`` / ``ink280/raw;base64,…`` (280×280 ink bytes), inside a widget's value.
    A blank drawing (after Clear) stays as it is."""
    out = ClientState()
    out.CopyFrom(state)
    for w in out.widget_states.widgets:
        kind = w.WhichOneof("value")
        if kind in ("json_value", "string_value"):
            text = getattr(w, kind)
            text = PNG_RE.sub(lambda m: _moved_png(m.group(1), rng), text)
            setattr(w, kind, INK_RE.sub(lambda m: _moved_ink(m, rng), text))
    return out


@functools.lru_cache(maxsize=16)
def _decoded(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def _moved(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dy, dx = (int(v) for v in rng.integers(-3, 4, size=2))
    out = np.roll(image, (dy, dx), axis=(0, 1)).copy()
    ink = out[..., :3] if out.ndim == 3 else out  # RGBA: the colour, not the alpha
    ink[...] = (ink * rng.uniform(0.9, 1.0)).astype(np.uint8)
    return out


def _moved_png(b64: str, rng: np.random.Generator) -> str:
    image = _decoded(b64)
    if not image[..., :3].any():
        return "data:image/png;base64," + b64
    buf = io.BytesIO()
    Image.fromarray(_moved(image, rng)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _moved_ink(m: re.Match, rng: np.random.Generator) -> str:
    side, form, b64 = int(m.group(1)), m.group(2), m.group(3)
    packed = base64.b64decode(b64)
    raw = zlib.decompress(packed) if form == "deflate" else packed
    ink = np.frombuffer(raw, np.uint8)
    if ink.size != side * side or not ink.any():
        return m.group(0)
    moved = _moved(ink.reshape(side, side), rng).tobytes()
    body = zlib.compress(moved) if form == "deflate" else moved
    return f"ink{side}/{form};base64," + base64.b64encode(body).decode()


# ---------------------------------------------------------------------------------------------
# Recording what a real browser sends


@dataclass
class Frame:
    t: float  # time.monotonic() when Playwright saw it
    sent: bool  # True: browser → server (a BackMsg); False: server → browser (a ForwardMsg)
    data: bytes


class FrameRecorder:
    """Wraps a sync Playwright ``Browser``: every page of every context it makes has its websocket
    frames recorded in ``frames`` (both directions, in order; Playwright's ``page.on("websocket")``), so a
    benchmark can replay exactly what the browser sent after a stroke or a slider step. In Chromium the
    same frames are also kept with the browser's own timestamps (DevTools ``Network.webSocketFrame*``) in
    ``timed``: Playwright's events reach Python late on a busy machine, the browser's clock does not."""

    def __init__(self, browser) -> None:
        self._browser = browser
        self.frames: list[Frame] = []
        self.timed: list[Frame] = []

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        context.on("page", lambda page: self._page(context, page))
        return context

    def _page(self, context, page) -> None:
        page.on("websocket", self._watch)
        try:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
        except Exception:  # noqa: BLE001 - not Chromium: Playwright's own times are used
            return
        cdp.on("Network.webSocketFrameSent", lambda e: self._keep_timed(True, e))
        cdp.on("Network.webSocketFrameReceived", lambda e: self._keep_timed(False, e))

    def _watch(self, ws) -> None:
        if not ws.url.endswith("/_stcore/stream"):
            return
        ws.on("framesent", lambda payload: self._keep(True, payload))
        ws.on("framereceived", lambda payload: self._keep(False, payload))

    def _keep(self, sent: bool, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            self.frames.append(Frame(time.monotonic(), sent, bytes(payload)))

    def _keep_timed(self, sent: bool, event: dict) -> None:
        frame = event["response"]
        if frame.get("opcode") == 2:  # binary: Streamlit's protobufs
            self.timed.append(Frame(event["timestamp"], sent, base64.b64decode(frame["payloadData"])))

    def interactions(self, needles: dict[str, bytes]) -> list[tuple[str, ClientState]]:
        """Each ``rerun_script`` the browser sent, named by the needle its answer contained (the first
        of ``needles`` found in the frames received before the next one sent); page loads (no widget
        values) and reruns whose answer had none of them are left out."""
        return [(name, state) for name, state, _ in self.answered(needles)]

    def answered(self, needles: dict[str, bytes]) -> list[tuple[str, ClientState, float | None]]:
        """``interactions`` with, for each, the seconds from the browser sending it to the browser
        receiving its run's ``script_finished`` (what a simulated student's answer time is): on the
        browser's clock when ``timed`` holds the same frames, else on Playwright's; None when not seen."""
        named = _named(self.frames, needles)
        sent = sum(f.sent for f in self.frames)
        if self.timed and sum(f.sent for f in self.timed) == sent:
            times = {k: t for k, _, _, t in _named(self.timed, needles)}
            return [(name, state, times.get(k)) for k, name, state, _ in named]
        return [(name, state, t) for _, name, state, t in named]

    def page_load(self) -> ClientState | None:
        """The first ``rerun_script`` without widget values: how the browser opened the page."""
        for frame in self.frames:
            msg = BackMsg()
            if frame.sent:
                msg.ParseFromString(frame.data)
                if msg.WhichOneof("type") == "rerun_script" and not msg.rerun_script.widget_states.widgets:
                    return msg.rerun_script
        return None


def _named(frames: list[Frame], needles: dict[str, bytes]) -> list[tuple[int, str, ClientState, float | None]]:
    """(index among the sent frames, answer name, the rerun_script, send → script_finished seconds)."""
    out = []
    k = -1
    for i, frame in enumerate(frames):
        if not frame.sent:
            continue
        k += 1
        msg = BackMsg()
        msg.ParseFromString(frame.data)
        if msg.WhichOneof("type") != "rerun_script" or not msg.rerun_script.widget_states.widgets:
            continue
        answer = _until_next_sent(frames, i)
        joined = b"".join(f.data for f in answer)
        name = next((n for n, needle in needles.items() if needle in joined), None)
        if name is not None:
            done = next((f.t for f in answer if _finishes(f.data)), None)
            out.append((k, name, msg.rerun_script, None if done is None else done - frame.t))
    return out


def _finishes(data: bytes) -> bool:
    msg = ForwardMsg()
    msg.ParseFromString(data)
    return msg.WhichOneof("type") == "script_finished" and msg.script_finished in ANSWERED


def _until_next_sent(frames: list[Frame], i: int) -> list[Frame]:
    out = []
    for frame in frames[i + 1:]:
        if frame.sent:
            break
        out.append(frame)
    return out
