"""A logits-only copy of an exported model, made on its serialised bytes (no ``onnx`` package needed).

Declaring a conv's output as a graph output (``core.train.graph_surgery`` does, so the "Inside the network" page
can show it) stops onnxruntime from fusing Conv + ReLU, which made the page's 785-image occlusion batch
about 1.7× slower. For batches only the logits are needed, so the page runs a copy whose graph outputs
nothing else. The inference install has onnxruntime but not the ``onnx`` package, so the copy is made on
the protobuf wire format: ModelProto field 7 is the graph, GraphProto field 12 its outputs,
ValueInfoProto field 1 an output's name; every other byte is kept as it is.
"""

from __future__ import annotations

_MODEL_GRAPH, _GRAPH_OUTPUT, _VALUE_INFO_NAME = 7, 12, 1


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("not a protobuf message (bad varint)")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _fields(buf: bytes):
    """(field number, wire type, start, end, payload span) of each top-level field of a message."""
    i = 0
    while i < len(buf):
        start = i
        key, i = _varint(buf, i)
        field_no, wire = key >> 3, key & 7
        span = None
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, j = _varint(buf, i)
            span, i = (j, j + n), j + n
        else:
            raise ValueError(f"not an ONNX model (wire type {wire})")
        if i > len(buf):
            raise ValueError("not an ONNX model (truncated field)")
        yield field_no, wire, start, i, span


def _name(value_info: bytes) -> str:
    for field_no, wire, _, _, span in _fields(value_info):
        if field_no == _VALUE_INFO_NAME and wire == 2:
            return value_info[span[0]:span[1]].decode("utf-8", "replace")
    return ""


def keep_outputs(model: bytes, keep: tuple[str, ...] = ("logits",)) -> bytes:
    """The serialised model with only the graph outputs named in ``keep`` (in their original order)."""
    out = bytearray()
    for field_no, wire, start, end, span in _fields(model):
        if field_no != _MODEL_GRAPH or wire != 2:
            out += model[start:end]
            continue
        graph = model[span[0]:span[1]]
        kept = bytearray()
        for f, w, s, e, sp in _fields(graph):
            if not (f == _GRAPH_OUTPUT and w == 2 and _name(graph[sp[0]:sp[1]]) not in keep):
                kept += graph[s:e]
        out += _encode_varint((_MODEL_GRAPH << 3) | 2) + _encode_varint(len(kept)) + kept
    return bytes(out)
