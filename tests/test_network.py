"""Inside the network: every unit the page explains is recomputed here by hand from the ONNX file's own
initializers (read with ``onnx.numpy_helper``) and must match onnxruntime, on the shipped models and on a
custom network exported in the test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from core.infer import explain as nw
from core.infer import plan as layer_plan
from core.data.mnist import load_test
from core.infer.runtime import SHIPPED_DIR, load_model, softmax
from core.train.graph_surgery import GraphMismatch, add_layer_outputs, plan_layer_outputs

SHIPPED = ["bncnn", "lenet5", "linear"]
TOL = dict(rtol=1e-4, atol=2e-5)


def initializers(path: Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(path).graph.initializer}


def digit(index: int = 0) -> np.ndarray:
    return load_test().images[index].astype(np.float32) / 255.0


def forward(path: Path, index: int = 0):
    model = load_model(path)
    plan = layer_plan.plan_of(model.card.extra)
    assert plan is not None, f"{path.name} has no layer outputs"
    run = layer_plan.session_runner(model.session)
    x = layer_plan.normalise(digit(index), model.card.mean, model.card.std)
    return model, plan, layer_plan.run_layers(run, plan, x), layer_plan.read_params(run, plan)


def hand_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, step: layer_plan.Step, c: int, r: int, q: int) -> float:
    """One output of ONNX Conv by the definition: pad with zeros, take the window, multiply, add."""
    top, left, bottom, right = step.pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    kh, kw = w.shape[2:]
    win = xp[:, r * step.strides[0]:r * step.strides[0] + kh, q * step.strides[1]:q * step.strides[1] + kw]
    return float((win.astype(np.float64) * w[c]).sum() + b[c])


def hand_dense(x: np.ndarray, w: np.ndarray, b: np.ndarray, step: layer_plan.Step) -> np.ndarray:
    w = w if step.transposed else w.T  # (out, in)
    return w.astype(np.float64) @ x.reshape(-1) + b


def check_every_step(path: Path, rng: np.random.Generator) -> None:
    model, plan, values, params = forward(path, index=int(rng.integers(0, 1000)))
    inits = initializers(path)
    for i, step in enumerate(plan.steps):
        x, out = values[step.source], values[step.pre]
        if step.kind == "conv":
            w, b = inits[step.params[0]], inits[step.params[1]]
            np.testing.assert_array_equal(params[step.params[0]], w)  # the page's weights are the file's
            for c, r, q in [(0, 0, 0), (step.shape[0] - 1, step.shape[1] - 1, step.shape[2] - 1),
                            *(tuple(int(rng.integers(0, n)) for n in step.shape) for _ in range(6))]:
                want = hand_conv(x, w, b, step, c, r, q)
                np.testing.assert_allclose(out[c, r, q], want, **TOL)
                unit = nw.conv_unit(step, values, params, c, r, q)
                np.testing.assert_allclose(unit.pre, want, **TOL)
                np.testing.assert_allclose(unit.per_channel.sum() + unit.bias, unit.onnx_pre, **TOL)
                np.testing.assert_allclose(unit.post, unit.onnx_post, **TOL)
                slope = {"relu": 0.0, "leaky_relu": 0.01}[step.activation]
                np.testing.assert_allclose(values[step.post][c, r, q], want if want >= 0 else slope * want, **TOL)
        elif step.kind == "pool":
            for c, r, q in [tuple(int(rng.integers(0, n)) for n in step.shape) for _ in range(8)]:
                (kh, kw), (sh, sw) = step.kernel, step.strides
                win = x[c, r * sh:r * sh + kh, q * sw:q * sw + kw]
                unit = nw.pool_unit(step, values, c, r, q)
                if step.op == "MaxPool":
                    assert out[c, r, q] == unit.value == unit.onnx_value == win.max()
                    assert unit.window[unit.winner] == win.max()
                else:
                    np.testing.assert_allclose(out[c, r, q], win.mean(dtype=np.float64), **TOL)
                    np.testing.assert_allclose(unit.value, win.mean(dtype=np.float64), **TOL)
        elif step.kind in ("dense", "logits"):
            w, b = inits[step.params[0]], inits[step.params[1]]
            want = hand_dense(x, w, b, step)
            np.testing.assert_allclose(out, want, **TOL)
            for u in (0, step.shape[0] - 1, int(rng.integers(0, step.shape[0]))):
                unit = nw.dense_unit(step, values, params, u)
                np.testing.assert_allclose(unit.pre, want[u], **TOL)
                np.testing.assert_allclose(unit.post, unit.onnx_post, **TOL)
                assert abs(unit.contributions[unit.top(1)[0]]) == np.abs(unit.contributions).max()
        elif step.kind == "flatten":
            np.testing.assert_array_equal(out, x.reshape(-1))
        elif step.kind == "batchnorm":
            scale, shift, mean, var = (inits[n] for n in step.params)
            c = int(rng.integers(0, step.shape[0]))
            idx = (c,) + tuple(int(rng.integers(0, n)) for n in step.shape[1:])
            want = (x[idx] - mean[c]) / np.sqrt(var[c] + step.epsilon) * scale[c] + shift[c]
            np.testing.assert_allclose(out[idx], want, **TOL)
            unit = nw.batchnorm_unit(step, values, params, idx)
            np.testing.assert_allclose(unit.pre, want, **TOL)
            np.testing.assert_allclose(unit.post, unit.onnx_post, **TOL)
        if step.activation == "relu":
            np.testing.assert_array_equal(values[step.post], np.maximum(out, 0))
    # softmax: exp / sum by hand vs the page's steps vs core.infer.runtime
    logits = values["logits"]
    e = np.exp(logits.astype(np.float64) - logits.max())
    sm = nw.softmax_steps(logits, 1.0)
    np.testing.assert_allclose(sm.probs, e / e.sum(), rtol=1e-12)
    np.testing.assert_allclose(sm.probs, softmax(logits[None])[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_units_match_onnxruntime(name):
    check_every_step(SHIPPED_DIR / f"{name}.onnx", np.random.default_rng(sum(map(ord, name))))


def test_shipped_sidecars_describe_graph_outputs():
    for name in SHIPPED:
        model = load_model(SHIPPED_DIR / f"{name}.onnx")  # also checks the updated SHA-256
        plan = layer_plan.plan_of(model.card.extra)
        assert layer_plan.missing_outputs(plan, model.output_names) == []
        assert model.output_names[0] == "logits"
        assert [v.key for v in plan.views()][0] == "input" and plan.views()[-1].key == "softmax"


def test_bncnn_batch_norm_is_folded_and_said_so():
    plan = layer_plan.plan_of(load_model(SHIPPED_DIR / "bncnn.onnx").card.extra)
    convs = [s for s in plan.steps if s.kind == "conv"]
    assert [s.folded_bn for s in convs] == ["bn1", "bn2", "bn3"]
    assert "folded" in plan.views()[1].caption


@pytest.fixture(scope="module")
def custom_export(tmp_path_factory):
    """A custom network (strided padded conv, batch norm after a dense layer, average pooling, leaky
    ReLU) trained on nothing: random weights and random batch-norm statistics, exported by core.train.export."""
    torch = pytest.importorskip("torch")
    from core.train.export import Provenance, export_model
    from core.arch.spec import ArchSpec, LayerSpec, batchnorm, conv, dense, dropout, pool
    from core.train.convnet import build_model

    spec = ArchSpec("custom", "Custom test net",
                    (conv(5, 3, stride=2, padding=1), pool(2, mode="avg"), conv(7, 2, padding=1),
                     LayerSpec("flatten"), dense(12), batchnorm(), dropout(0.2), dense(9)),
                    activation="leaky_relu")
    torch.manual_seed(3)
    net = build_model(spec).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    prov = Provenance("Custom test net", "none (random weights)", {}, 0.1)
    return export_model(net, spec, prov, tmp_path_factory.mktemp("custom"), "custom")


def test_custom_network_units_match_onnxruntime(custom_export):
    plan = layer_plan.plan_of(custom_export.card.extra)
    kinds = [s.kind for s in plan.steps]
    assert kinds[:2] == ["conv", "pool"] and kinds[-1] == "logits" and "flatten" in kinds
    assert plan.steps[1].op == "AveragePool"
    assert all(s.activation == "leaky_relu" for s in plan.steps if s.kind == "conv")
    check_every_step(custom_export.onnx_path, np.random.default_rng(7))


def test_custom_network_average_pool_unit(custom_export):
    model, plan, values, params = forward(custom_export.onnx_path, 5)
    step = plan.steps[1]
    unit = nw.pool_unit(step, values, 2, 3, 4)
    x = values[step.source][2]
    assert unit.winner is None
    np.testing.assert_allclose(unit.value, x[6:8, 8:10].mean(), rtol=1e-6)
    np.testing.assert_allclose(unit.onnx_value, unit.value, rtol=1e-5)


def test_layer_outputs_do_not_change_the_logits(custom_export):
    """The surgery only lists tensors as outputs: the logits of the tapped graph are bit-identical."""
    import onnxruntime as ort

    from core.train.graph_surgery import strip_layer_outputs

    proto = onnx.load(custom_export.onnx_path)
    plain = strip_layer_outputs(proto, ["logits"]).SerializeToString()
    x = layer_plan.normalise(load_test().images[:32] / 255.0, 0.1307, 0.3081)
    a = ort.InferenceSession(plain).run(["logits"], {"image": x})[0]
    b = ort.InferenceSession(custom_export.onnx_path.read_bytes()).run(["logits"], {"image": x})[0]
    np.testing.assert_array_equal(a, b)


def test_graph_that_does_not_match_its_table_is_refused():
    path = SHIPPED_DIR / "lenet5.onnx"
    card = json.loads(path.with_suffix(".json").read_text())
    proto = onnx.load(path)
    wrong = dict(card["architecture"], layers=card["architecture"]["layers"][:2])  # conv1, pool1 only
    with pytest.raises(GraphMismatch, match="no matching node: found Conv"):
        plan_layer_outputs(proto, wrong)
    data, plan = add_layer_outputs(proto, card["architecture"])
    assert onnx.load_from_string(data).graph.output[0].name == "logits"


def test_old_sidecar_without_layer_outputs_and_malformed_ones():
    assert layer_plan.plan_of({"parity_digits": 256}) is None
    good = layer_plan.plan_of(load_model(SHIPPED_DIR / "lenet5.onnx").card.extra).to_dict()
    bad_kind = json.loads(json.dumps(good))
    bad_kind["steps"][0]["kind"] = "teleport"
    bad_shape = json.loads(json.dumps(good))
    bad_shape["steps"][0]["shape"] = [10**6, 10**6, 10**6]
    for raw in ({"version": 99, "steps": []}, {"version": 1, "steps": "x"}, bad_kind, bad_shape,
                {"version": 1, "steps": good["steps"][:1]}):
        with pytest.raises(layer_plan.PlanError):
            layer_plan.plan_of({"layer_outputs": raw})
    assert layer_plan.missing_outputs(layer_plan.plan_of({"layer_outputs": good}), ("logits",))


def test_receptive_box_matches_the_arithmetic_module():
    from core import arithmetic as ar

    plan = layer_plan.plan_of(load_model(SHIPPED_DIR / "lenet5.onnx").card.extra)
    conv2 = next(i for i, s in enumerate(plan.steps) if s.row == "conv2")
    r0, c0, r1, c1 = nw.receptive_box(plan, conv2, 5, 5)  # a central unit: no clipping
    rf = ar.receptive_field([ar.RFLayer("conv1", 5, 1, 2), ar.RFLayer("pool1", 2, 2, 0),
                             ar.RFLayer("conv2", 5, 1, 0)])[-1]
    assert r1 - r0 + 1 == c1 - c0 + 1 == rf.rf == 14
    assert (r0, c0) == (5 * rf.jump - 2, 5 * rf.jump - 2)
    assert nw.receptive_box(plan, 0, 0, 0) == (0, 0, 2, 2)  # conv1 5×5 pad 2 at the corner: clipped
    assert nw.receptive_box(plan, len(plan.steps) - 1, 0, 0) is None


def test_softmax_temperature_and_cross_entropy_by_hand():
    z = np.array([2.0, 1.0, 0.1, -1.0, 0, 0, 0, 0, 0, 3.0])
    for t in (0.5, 1.0, 4.0):
        e = np.exp(z / t)
        np.testing.assert_allclose(nw.softmax_steps(z, t).probs, e / e.sum(), rtol=1e-12)
    assert nw.softmax_steps(z, 0.05).probs.argmax() == 9 and nw.softmax_steps(z, 0.05).probs.max() > 0.99
    assert np.ptp(nw.softmax_steps(z, 1000.0).probs) < 0.01
    p = nw.softmax_steps(z, 1.0).probs
    assert nw.cross_entropy(p, 9) == pytest.approx(-np.log(p[9]))
    assert nw.cross_entropy(p, 3) > nw.cross_entropy(p, 9)
    np.testing.assert_array_equal(nw.one_hot(3), np.eye(10)[3])
    with pytest.raises(ValueError):
        nw.softmax_steps(z, 0.0)


@pytest.mark.parametrize("patch", [1, 4, 5])
def test_occlusion_images_match_a_loop(patch):
    img = np.random.default_rng(patch).random((28, 28), dtype=np.float32)
    fast = nw.occlusion_images(img, patch, fill=-1.0)
    for k, (r, c) in enumerate([(0, 0), (27, 27), (13, 6), (2, 25)]):
        slow = img.copy()
        r0, c0 = r - patch // 2, c - patch // 2
        slow[max(r0, 0):max(r0 + patch, 0), max(c0, 0):max(c0 + patch, 0)] = -1.0
        np.testing.assert_array_equal(fast[r * 28 + c], slow)


def test_occlusion_map_matches_one_image_at_a_time():
    model = load_model(SHIPPED_DIR / "lenet5.onnx")
    run = layer_plan.session_runner(model.session)
    img = digit(3)
    occ = nw.occlusion(run, img, 5, model.card.mean, model.card.std)
    probs0 = softmax(run(["logits"], layer_plan.normalise(img, model.card.mean, model.card.std))[0])[0]
    np.testing.assert_allclose(occ.probs, probs0, rtol=1e-5, atol=1e-7)
    assert occ.classes[0] == int(probs0.argmax()) and occ.classes[1] == int(np.argsort(-probs0)[1])
    slow = np.zeros((2, 28, 28))
    for r in range(28):
        for c in range(28):
            x = img.copy()
            x[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3] = 0.0
            p = softmax(run(["logits"], layer_plan.normalise(x, model.card.mean, model.card.std))[0])[0]
            slow[:, r, c] = probs0[list(occ.classes)] - p[list(occ.classes)]
    np.testing.assert_allclose(occ.drops, slow, atol=2e-6)
    assert occ.drops[0].max() > 0.01  # covering the digit somewhere costs the prediction something


def test_linear_templates_and_first_kernels_are_the_files_weights():
    lin = SHIPPED_DIR / "linear.onnx"
    plan = layer_plan.plan_of(load_model(lin).card.extra)
    run = layer_plan.session_runner(load_model(lin).session)
    templates = nw.class_templates(plan, layer_plan.read_params(run, plan))
    w = initializers(lin)[plan.steps[-1].params[0]]
    np.testing.assert_array_equal(templates, w.reshape(10, 28, 28))
    cnn = SHIPPED_DIR / "lenet5.onnx"
    plan2 = layer_plan.plan_of(load_model(cnn).card.extra)
    kernels = nw.first_conv_kernels(plan2, layer_plan.read_params(layer_plan.session_runner(load_model(cnn).session), plan2))
    np.testing.assert_array_equal(kernels, initializers(cnn)[plan2.steps[0].params[0]])
    assert nw.class_templates(plan2, {}) is None and nw.first_conv_kernels(plan, {}) is None


@pytest.mark.parametrize("name", SHIPPED)
def test_logits_only_copy_matches_the_onnx_package_and_the_logits(name):
    """``keep_outputs`` edits the protobuf bytes directly; the onnx package must read the same model back,
    minus the extra outputs, and onnxruntime must give bit-identical logits."""
    import onnxruntime as ort

    from core.train.graph_surgery import strip_layer_outputs
    from core.infer.onnx_wire import keep_outputs

    data = (SHIPPED_DIR / f"{name}.onnx").read_bytes()
    slim = keep_outputs(data)
    assert onnx.load_from_string(slim) == strip_layer_outputs(onnx.load_from_string(data), ["logits"])
    x = layer_plan.normalise(load_test().images[:16] / 255.0, 0.1307, 0.3081)
    full = ort.InferenceSession(data).run(["logits"], {"image": x})[0]
    np.testing.assert_array_equal(ort.InferenceSession(slim).run(None, {"image": x})[0], full)
    with pytest.raises(ValueError):
        keep_outputs(data[:-7] + b"\xff\xff\xff")


@pytest.mark.system  # exports five networks (the shipped models' layers are checked in the fast tier)
@pytest.mark.parametrize("preset", ["linear", "mlp", "twoconv", "allconv", "bncnn"])
def test_every_preset_exports_its_layers_and_they_check_out(preset, tmp_path):
    """Each architecture the training page offers (random weights; LeNet-5 is covered by the shipped
    model): the exporter's graph walk matches its layer table and every unit matches onnxruntime."""
    torch = pytest.importorskip("torch")
    from core.train.export import Provenance, export_model
    from core.arch.spec import PRESETS
    from core.train.convnet import build_model

    spec = PRESETS[preset]
    torch.manual_seed(0)
    net = build_model(spec).eval()
    res = export_model(net, spec, Provenance(spec.title, "none (random weights)", {}, 0.1), tmp_path, preset)
    plan = layer_plan.plan_of(res.card.extra)
    rows = [s.row for s in plan.steps]
    assert rows[-1] == "output" and "flatten" in rows
    assert not any(r.startswith(("dropout", "bn")) for r in rows)  # nothing at test time / folded into convs
    check_every_step(res.onnx_path, np.random.default_rng(len(preset)))


def test_digit_link_round_trip_and_hostile_text():
    import base64
    import zlib

    from core.links.network import decode_digit, digit_link, encode_digit

    img = load_test().images[4] / 255.0
    text = encode_digit(img)
    assert len(text) < 600 and text == digit_link(img, "lenet5")["img"]
    np.testing.assert_allclose(decode_digit(text), img, atol=1 / 510)
    bomb = base64.urlsafe_b64encode(zlib.compress(b"\0" * 800_000, 9)).decode().rstrip("=")
    assert len(bomb) < 1200  # 800 kB that fit in a link: only 785 bytes are ever inflated
    for bad in (bomb, "", "<script>", "A" * 2000, base64.urlsafe_b64encode(zlib.compress(b"\1" * 100)).decode(),
                text[:-3]):
        with pytest.raises(ValueError):
            decode_digit(bad)
