"""Saving and loading models to .npz: round trips, and clear errors that leave the model unchanged."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def _weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _assert_unchanged(model, before):
    after = model.state_dict()
    assert list(after) == list(before)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k])


def test_roundtrip_is_exact_and_keeps_the_leaves(tmp_path):
    a, b = cr.nn.MLP([4, 5, 3], rng=0), cr.nn.MLP([4, 5, 3], rng=1)
    leaves = b.parameters()
    path = tmp_path / "model.npz"
    cr.nn.save(a, path)
    assert cr.nn.load(b, path) is b
    _assert_unchanged(b, a.state_dict())
    assert all(s is t for s, t in zip(leaves, b.parameters()))  # written in place: optimisers still see them
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(a.state_dict())


def test_float32_model_roundtrip(tmp_path):
    a = cr.nn.MLP([2, 3], dtype=np.float32, rng=0)
    cr.nn.save(a, tmp_path / "m.npz")
    b = cr.nn.MLP([2, 3], dtype=np.float32, rng=1)
    cr.nn.load(b, tmp_path / "m.npz")
    assert b.layers[0].weight.dtype == np.float32
    _assert_unchanged(b, a.state_dict())


def test_wrong_shape_is_refused_and_nothing_is_written(tmp_path):
    cr.nn.save(cr.nn.MLP([4, 6, 3], rng=0), tmp_path / "wide.npz")
    model = cr.nn.MLP([4, 5, 3], rng=1)
    before = _weights(model)
    with pytest.raises(ValueError, match=r"parameter 'layers.0.weight' has shape \(4, 5\) in the model but "
                                         r"\(4, 6\) in the state; nothing was loaded"):
        cr.nn.load(model, tmp_path / "wide.npz")
    _assert_unchanged(model, before)


def test_wrong_keys_are_named(tmp_path):
    cr.nn.save(cr.nn.MLP([4, 3], rng=0), tmp_path / "shallow.npz")
    model = cr.nn.MLP([4, 5, 3], rng=1)
    before = _weights(model)
    with pytest.raises(KeyError, match=r"missing keys \['layers.1.weight', 'layers.1.bias'\]"):
        cr.nn.load(model, tmp_path / "shallow.npz")
    _assert_unchanged(model, before)
    # strict=False loads what matches by name and shape ... here nothing matches in shape
    with pytest.raises(ValueError, match="layers.0.weight"):
        cr.nn.load(model, tmp_path / "shallow.npz", strict=False)
    _assert_unchanged(model, before)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "pickled", "single array", "empty"])
def test_corrupted_files_give_a_clear_error(tmp_path, damage):
    model = cr.nn.MLP([4, 5, 3], rng=1)
    before = _weights(model)
    path = tmp_path / "bad.npz"
    cr.nn.save(cr.nn.MLP([4, 5, 3], rng=0), path)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(raw[:40] + bytes(200) + raw[240:])
    elif damage == "pickled":
        np.savez(path, **{"layers.0.weight": np.array([{"evil": 1}], dtype=object)})
    elif damage == "single array":
        with open(path, "wb") as f:
            np.save(f, np.ones(3))
    else:
        path.write_bytes(b"")
    with pytest.raises((ValueError, KeyError), match="load|load_state_dict"):
        cr.nn.load(model, path)
    _assert_unchanged(model, before)


def test_missing_file_and_unsaveable_state(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        cr.nn.load(cr.nn.MLP([2, 1], rng=0), tmp_path / "nope.npz")

    class Weird:
        def state_dict(self):
            return {"x": np.array([object()], dtype=object)}

    with pytest.raises(TypeError, match="only arrays can be saved without pickle"):
        cr.nn.save(Weird(), tmp_path / "w.npz")
    assert not (tmp_path / "w.npz").exists()             # refused before the file was opened
