"""Architecture specs: the layer table agrees with the network torch builds, and impossible stacks explain themselves."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs

from core.arch import spec as archspec

from core.train import convnet

from core.arch import layer_table as lt
from core.links import share


@pytest.mark.parametrize("name", archspec.PRESET_KEYS)
def test_preset_params_and_shapes_match_torch(name):
    spec = archspec.PRESETS[name]
    rows = lt.layer_table(spec)
    assert lt.table_reason(rows) is None
    model = convnet.build_model(spec)
    assert sum(p.numel() for p in model.parameters()) == sum(r.params for r in rows)
    x = torch.randn(2, 1, 28, 28)
    model.eval()
    logits, acts = model.forward_with_activations(x)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(logits, model(x))
    assert [tuple(a.shape[1:]) for a in acts] == lt.activation_shapes(spec)
    assert len(lt.activation_labels(spec)) == len(acts)
    # Every row's shape is what torch produces at that point of the network.
    shapes = []
    h = x
    for layer in model.layers:
        h = layer(h)
        shapes.append(tuple(h.shape[1:]))
    for row in rows[1:]:
        assert row.out_shape in shapes, (row.name, row.out_shape)


def test_preset_notes_and_required_keys():
    assert {"linear", "mlp", "lenet5", "twoconv", "allconv"} <= set(archspec.PRESETS)
    for spec in archspec.PRESETS.values():
        assert len(spec.note) > 40, spec.name


def test_lenet5_numbers_by_hand():
    rows = {r.name: r for r in lt.layer_table(archspec.PRESETS["lenet5"])}
    assert rows["conv1"].out_shape == (6, 28, 28) and rows["conv1"].params == 6 * 25 + 6
    assert rows["conv1"].macs == 28 * 28 * 6 * 25
    assert rows["pool1"].out_shape == (6, 14, 14) and rows["pool1"].rf == 6
    assert rows["conv2"].out_shape == (16, 10, 10) and rows["conv2"].params == 16 * 6 * 25 + 16
    assert rows["conv2"].rf == 14
    assert rows["pool2"].rf == 16
    assert rows["flatten"].out_shape == (400,)  # computed, never typed in
    assert rows["dense1"].params == 400 * 120 + 120
    assert rows["output"].params == 84 * 10 + 10
    assert "⌊(28 + 2·2 − 1·(5−1) − 1) / 1⌋ + 1 = ⌊27/1⌋ + 1" in rows["conv1"].formula
    assert lt.activation_labels(archspec.PRESETS["lenet5"]) == ["conv1 5×5, 6 ch, pad 2", "conv2 5×5, 16 ch"]


def test_allconv_has_no_pooling_and_downsamples_by_stride():
    spec = archspec.PRESETS["allconv"]
    assert all(layer.kind != "pool" for layer in spec.layers)
    assert lt.activation_shapes(spec)[-1][1:] == (7, 7)


def test_batchnorm_params_and_activation_after_bn():
    spec = archspec.ArchSpec("t", "t", (archspec.conv(4, 3), archspec.batchnorm(), archspec.dense(8), archspec.batchnorm()))
    model = convnet.build_model(spec)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == lt.count_params(spec)


def test_feature_map_below_one_pixel_is_explained_not_raised():
    spec = archspec.ArchSpec("bad", "bad", (archspec.conv(8, 5), archspec.pool(2), archspec.conv(8, 5), archspec.pool(2), archspec.conv(8, 5)))
    rows = lt.layer_table(spec)
    reason = lt.validate(spec)
    assert reason is not None and "conv3" in reason and "4×4" in reason
    assert rows[-1].out_shape is None and rows[-1].reason == reason
    with pytest.raises(ValueError, match="conv3"):
        convnet.build_model(spec)


@pytest.mark.parametrize("layers, words", [
    ((archspec.dense(10), archspec.conv(8, 3)), "flat vector"),
    ((archspec.conv(0, 3),), "channels"),
    ((archspec.dropout(1.0),), "dropout"),
    ((archspec.LayerSpec("banana"),), "unknown layer kind"),
    ((archspec.pool(2), archspec.pool(2), archspec.pool(2), archspec.pool(2), archspec.pool(2)), "too small"),
    ((archspec.conv(256, 3, padding=1), archspec.conv(256, 3, padding=1)), "multiply-adds"),
    ((archspec.dense(4096), archspec.dense(4096)), "parameters"),
])
def test_impossible_stacks(layers, words):
    reason = lt.validate(archspec.ArchSpec("x", "x", layers))
    assert reason is not None and words in reason


def test_unknown_activation():
    assert "activation" in lt.validate(archspec.ArchSpec("x", "x", (), activation="swish")).lower()


@pytest.mark.parametrize("name", archspec.PRESET_KEYS)
def test_spec_dict_round_trip_through_json(name):
    spec = archspec.PRESETS[name]
    assert archspec.spec_from_dict(json.loads(json.dumps(archspec.spec_to_dict(spec)))) == spec


def test_spec_from_dict_rejects_garbage():
    with pytest.raises(ValueError):
        archspec.spec_from_dict({"layers": [{"kind": "conv", "bogus": 1}]})
    with pytest.raises(ValueError):
        archspec.spec_from_dict({"layers": "conv"})
    with pytest.raises(ValueError):
        archspec.spec_from_dict([1, 2])


layer_strategy = hs.one_of(
    hs.builds(archspec.conv, hs.integers(1, 8), hs.integers(1, 5), hs.integers(1, 3), hs.integers(0, 2)),
    hs.builds(archspec.pool, hs.integers(1, 3), hs.one_of(hs.none(), hs.integers(1, 3)), hs.sampled_from(["max", "avg"])),
    hs.builds(archspec.dense, hs.integers(1, 16)),
    hs.builds(archspec.dropout, hs.floats(0, 0.9)),
    hs.just(archspec.batchnorm()),
)


@settings(max_examples=40, deadline=None)
@given(hs.lists(layer_strategy, max_size=6), hs.sampled_from(list(archspec.ACTIVATIONS)))
def test_random_stacks_agree_with_torch(layers, activation):
    """Any stack the table accepts builds and runs with exactly the table's shapes and parameters;
    any stack it rejects is one torch cannot run either."""
    spec = archspec.ArchSpec("r", "r", tuple(layers), activation)
    rows = lt.layer_table(spec)
    reason = lt.table_reason(rows)
    if reason is None:
        model = convnet.build_model(spec).eval()
        logits, acts = model.forward_with_activations(torch.zeros(2, 1, 28, 28))
        assert logits.shape == (2, 10)
        assert sum(p.numel() for p in model.parameters()) == sum(r.params for r in rows)
        assert [tuple(a.shape[1:]) for a in acts] == lt.activation_shapes(spec)
    else:
        # Build the same layers without the table's checks: torch must fail too (or the failure is a
        # spatial layer after a dense layer, which the table forbids by design).
        if any(r.kind in ("conv", "pool") and r.in_shape and len(r.in_shape) == 1 for r in rows):
            return
        with pytest.raises(RuntimeError):
            _raw_torch(spec)(torch.zeros(2, 1, 28, 28))


def _raw_torch(spec):
    mods, c = [], 1
    for layer in spec.layers:
        if layer.kind == "conv":
            mods.append(torch.nn.Conv2d(c, layer.out_channels, layer.kernel, layer.effective_stride, layer.padding))
            c = layer.out_channels
        elif layer.kind == "pool":
            mods.append(torch.nn.MaxPool2d(layer.size, layer.effective_stride))
        elif layer.kind in ("batchnorm", "dropout"):
            continue  # shape unchanged: a too-small map may still come after them
        else:
            break
    return torch.nn.Sequential(*mods)


# ---------------------------------------------------------------------------------------------
# Layers ↔ share-link text


def test_layer_text_of_the_presets():
    assert archspec.layers_to_text(archspec.PRESETS["lenet5"].layers) == "c6k5p2-max2-c16k5-max2-d120-d84"
    assert archspec.layers_to_text(archspec.PRESETS["allconv"].layers) == "c32k3p1-c32k3s2p1-c64k3p1-c64k3s2p1"
    for spec in archspec.PRESETS.values():
        assert archspec.layers_from_text(archspec.layers_to_text(spec.layers)) == spec.layers


_layer = hs.one_of(
    hs.builds(archspec.conv, hs.integers(1, 300), hs.integers(1, 12), hs.integers(1, 5), hs.integers(0, 6)),
    hs.builds(archspec.pool, hs.integers(1, 9), hs.integers(1, 9), hs.sampled_from(archspec.POOL_MODES)),
    hs.builds(archspec.dense, hs.integers(1, 5000)),
    hs.builds(archspec.dropout, hs.sampled_from([0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.95])),
    hs.just(archspec.batchnorm()),
    hs.just(archspec.LayerSpec("flatten")),
)


@given(hs.lists(_layer, max_size=archspec.MAX_LAYERS))
@settings(max_examples=200, deadline=None)
def test_layer_text_round_trip_keeps_every_shape(layers):
    back = archspec.layers_from_text(archspec.layers_to_text(layers))
    before = lt.layer_table(archspec.ArchSpec("custom", "", tuple(layers)))
    after = lt.layer_table(archspec.ArchSpec("custom", "", back))
    assert [(r.kind, r.shape_text, r.params, r.macs, r.reason) for r in after] == \
           [(r.kind, r.shape_text, r.params, r.macs, r.reason) for r in before]


@pytest.mark.parametrize("text, why", [
    ("c8k3-banana", "layer 2"), ("c8", "layer 1"), ("do1.5", "layer 1"), ("max2s", "layer 1"),
    ("-".join(["d8"] * (archspec.MAX_LAYERS + 1)), "at most"), ("d1" * 300, "longer than"),
])
def test_layer_text_refuses_what_it_cannot_read(text, why):
    with pytest.raises(ValueError, match=why):
        archspec.layers_from_text(text)


def test_layers_param_in_a_link():
    param = archspec.LayersParam("layers", archspec.PRESETS["lenet5"].layers)
    decoded = share.decode((param,), {"layers": "c4k3-avg2"})
    assert decoded.values["layers"] == (archspec.conv(4, 3), archspec.pool(2, mode="avg")) and not decoded.notices
    assert share.decode((param,), {"layers": "none"}).values["layers"] == ()
    assert param.format(()) == "none"
    bad = share.decode((param,), {"layers": "c4k3-zz"})
    assert bad.values["layers"] == archspec.PRESETS["lenet5"].layers and "layer 2" in bad.notices[0]


def test_trained_model_pickles_with_torch_save(tmp_path):
    """The network class lives at module level (core.train.convnet.ConvNet), so torch.save/load round-trips it."""
    spec = archspec.PRESETS["twoconv"]
    model = convnet.build_model(spec, generator=torch.Generator().manual_seed(3))
    model.use_generator(torch.Generator().manual_seed(4))  # a run's generator is not saved with the model
    model.eval()
    path = tmp_path / "model.pt"
    torch.save(model, path)
    loaded = torch.load(path, weights_only=False)
    assert type(loaded).__module__ == "core.train.convnet" and loaded.spec == spec
    x = torch.randn(3, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x))


def test_generator_init_is_reproducible_and_matches_torch_defaults():
    spec = archspec.PRESETS["lenet5"]
    a = convnet.build_model(spec, generator=torch.Generator().manual_seed(0))
    b = convnet.build_model(spec, generator=torch.Generator().manual_seed(0))
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    # Same distribution as torch's own reset_parameters: uniform within ±1/√fan_in (Kaiming a=√5).
    conv2 = a.layers[3]
    bound = 1 / (6 * 25) ** 0.5
    assert float(conv2.weight.abs().max()) <= bound and float(conv2.weight.abs().max()) > 0.9 * bound
    assert float(conv2.bias.abs().max()) <= bound


def test_description_modules_do_not_import_torch():
    import subprocess
    import sys

    from tests.conftest import REPO

    code = ("import sys; from core.arch import layer_table as lt, spec as archspec; rows = lt.layer_table(archspec.PRESETS['bncnn']); "
            "lt.estimate_memory(rows, 128); print(sorted(m for m in sys.modules if m.startswith('torch')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]
