"""cr.nn.load on hostile .npz files: every header is checked before any data is decompressed.

Oracle: tracemalloc's peak (NumPy reports its allocations to it) stays far below what the
file declares, and the model keeps its values.
"""
from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.serialization import load_npz


def _npy_bytes(shape, descr="<f8", body=b""):
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue() + body


def _write_npz(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)


def _npy(a):
    f = io.BytesIO()
    np.save(f, a)
    return f.getvalue()


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.fixture
def model():
    return cr.nn.MLP([3, 2], rng=0)


def _good_members(model):
    return {k: _npy(v) for k, v in model.state_dict().items()}


def test_a_tiny_file_declaring_a_huge_shape_is_refused_without_allocating(tmp_path, model):
    members = _good_members(model)
    members["layers.0.weight"] = _npy_bytes((10**7, 10**7), body=bytes(64))
    path = tmp_path / "bomb.npz"
    _write_npz(path, members)
    assert path.stat().st_size < 2000
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"parameter 'layers.0.weight' has shape \(3, 2\) in the model but "
                                         r"\(10000000, 10000000\) in the state.*float64.*800000000000000 bytes"):
        cr.nn.load(model, path)
    assert all(np.array_equal(model.state_dict()[k], v) for k, v in before.items())
    # without a model to compare with, the member is too small to hold what it declares
    with pytest.raises(ValueError, match=r"'layers.0.weight' declares shape \(10000000, 10000000\) float64 "
                                         r"\(800000000000000 bytes\), but its member holds at most \d+ bytes"):
        load_npz(path)


def test_an_extra_entry_is_never_decompressed(tmp_path, model):
    members = _good_members(model)
    members["extra"] = _npy(np.zeros(25_000_000))        # 200 MB of zeros, about 200 KB compressed
    path = tmp_path / "extra.npz"
    _write_npz(path, members)

    def strict():
        with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
            cr.nn.load(model, path)

    assert _peak(strict) < 5_000_000
    other = cr.nn.MLP([3, 2], rng=1)
    peak = _peak(lambda: cr.nn.load(other, path, strict=False))
    assert peak < 5_000_000, peak
    np.testing.assert_array_equal(other.layers[0].weight.detach().numpy(),
                                  model.layers[0].weight.detach().numpy())


def test_object_dtype_is_refused_from_its_header(tmp_path, model):
    members = _good_members(model)
    members["layers.0.bias"] = _npy_bytes((2,), descr="|O", body=b"\x80\x04junk")
    path = tmp_path / "pickle.npz"
    _write_npz(path, members)
    with pytest.raises(ValueError, match=r"'layers.0.bias' declares shape \(2,\) object .*pickle"):
        cr.nn.load(model, path)


def test_a_header_that_overstates_a_stored_member_is_refused(tmp_path):
    path = tmp_path / "short.npz"
    _write_npz(path, {"w": _npy_bytes((1000,), body=bytes(80))}, compression=zipfile.ZIP_STORED)
    with pytest.raises(ValueError, match=r"'w' declares shape \(1000,\) float64 \(8000 bytes\), but its "
                                         r"member holds at most \d+ bytes"):
        load_npz(path)


def test_total_size_cap(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=np.ones(10), b=np.ones(10))
    assert sorted(load_npz(path, max_bytes=160)) == ["a", "b"]
    with pytest.raises(ValueError, match="'b' declares shape .* more than max_bytes=100"):
        load_npz(path, max_bytes=100)


def test_optimiser_state_of_the_wrong_shape_names_the_entry(tmp_path):
    w = cr.tensor(np.ones(3), requires_grad=True)
    opt = cr.optim.Adam([w], lr=0.1)
    state = opt.state_dict()
    state = {k: (np.ones(4) if np.shape(v) == (3,) else v) for k, v in state.items()}
    np.savez(tmp_path / "opt.npz", **state)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: '\w+.0' has shape \(4,\), expected \(3,\)"):
        cr.nn.load(opt, tmp_path / "opt.npz")


def test_lbfgs_history_is_checked_from_the_headers(tmp_path):
    w = cr.tensor(np.ones(3), requires_grad=True)
    opt = cr.optim.LBFGS([w], history_size=2)
    state = {"step": np.asarray(3), "lr": np.asarray(1.0), **{f"{k}.{i}": np.ones(3) for i in range(3) for k in "sy"}}
    np.savez(tmp_path / "long.npz", **state)
    with pytest.raises(KeyError, match=r"unexpected keys \['s.2', 'y.2'\]"):
        cr.nn.load(opt, tmp_path / "long.npz")
    state = {k: v for k, v in state.items() if not k.endswith(".2")}
    state["y.1"] = np.ones(10**6)
    np.savez_compressed(tmp_path / "wide.npz", **state)
    with pytest.raises(ValueError, match=r"'y.1' has shape \(1000000,\), expected \(3,\)"):
        cr.nn.load(opt, tmp_path / "wide.npz")
    assert opt.state_dict().keys() == {"step", "lr"}


def _patch_sizes(raw, size):
    """The zip ``raw`` with its one member's sizes in both headers replaced by ``size``."""
    import struct
    out = bytearray(raw)
    local, central = out.find(b"PK\x03\x04"), out.find(b"PK\x01\x02")
    struct.pack_into("<II", out, local + 18, size, size)
    struct.pack_into("<II", out, central + 20, size, size)
    return bytes(out)


def test_sizes_forged_in_the_zip_directory_are_bounded_by_the_file(tmp_path):
    path = tmp_path / "forged.npz"
    _write_npz(path, {"w": _npy_bytes((10**8,), body=bytes(80))}, compression=zipfile.ZIP_STORED)
    path.write_bytes(_patch_sizes(path.read_bytes(), 800_000_200))
    assert zipfile.ZipFile(path).getinfo("w.npy").file_size == 800_000_200   # the forgery took
    peak = []

    def refused():
        # (Python >= 3.13 and the 3.12/3.11 security releases: zipfile itself finds the
        # member overlapping the directory, "possible zip bomb", before chainrule's own bound)
        with pytest.raises(ValueError, match=r"'w' declares shape \(100000000,\) float64 \(800000000 bytes\), "
                                             r"but its member holds at most \d{3} bytes|possible zip bomb"):
            load_npz(path)
    peak.append(_peak(refused))
    assert peak[0] < 1_000_000


def test_other_zip_compressions_are_refused(tmp_path):
    path = tmp_path / "bz.npz"
    _write_npz(path, {"w": _npy(np.zeros(4))}, compression=zipfile.ZIP_BZIP2)
    with pytest.raises(ValueError, match="compression method 12"):
        load_npz(path)
