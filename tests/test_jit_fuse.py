"""Fusion of elementwise chains in cr.jit (chainrule._jit.fuse): values, dtypes, derivatives, cache, fallback.

Oracles: the same function run eagerly on NumPy arrays, and the same graph
run unfused (straight-line NumPy).  Arithmetic, selection and comparisons must
match bit for bit (signed zeros included); libm functions (sin, tanh, exp, ...)
may differ by an ulp, so those compare with rtol 1e-14 (they fuse in float64 only: float32 stays NumPy's).
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._jit import codegen, fuse

pytestmark = pytest.mark.skipif(fuse.enabled() is not None, reason="fusion needs Numba")

SPECIAL = [0.0, -0.0, 1.5, -2.25, np.nan, np.inf, -np.inf, 0.5, 3.0, -1e-300, 7.0, -0.75]

EXACT_UNARY = {
    "negative": cnp.negative, "abs": cnp.abs, "square": cnp.square, "sqrt": cnp.sqrt, "floor": cnp.floor,
    "scale": lambda a: a * 1.1, "shift": lambda a: a + 0.1, "rsub": lambda a: 2.0 - a,
    "relu": lambda a: cnp.maximum(a, 0.0), "clip": lambda a: cnp.clip(a, -1.0, 1.0),
}
EXACT_BINARY = {
    "add": cnp.add, "subtract": cnp.subtract, "multiply": cnp.multiply, "divide": cnp.divide,
    "maximum": cnp.maximum, "minimum": cnp.minimum,
    "where": lambda a, b: cnp.where(a > b, a, b * 2.0),
    "where_le": lambda a, b: cnp.where(a <= b, a - b, b),
}
LIBM_UNARY = {
    "sin": cnp.sin, "cos": cnp.cos, "tanh": cnp.tanh, "exp": cnp.exp, "log": cnp.log, "expm1": cnp.expm1,
    "log1p": cnp.log1p, "arctan": cnp.arctan, "sinh": cnp.sinh, "log2": cnp.log2, "exp2": cnp.exp2,
    "tan": cnp.tan, "arcsinh": cnp.arcsinh, "log10": cnp.log10, "cosh": cnp.cosh,
}
LIBM_BINARY = {"power": cnp.power, "arctan2": cnp.arctan2, "hypot": cnp.hypot}


def _same(got, want, exact, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=what)
        real = ~np.isnan(want)
        assert np.array_equal(np.signbit(got)[real], np.signbit(want)[real]), f"{what}: signed zeros differ"
    else:
        rtol = 1e-6 if want.dtype == np.float32 else 1e-14
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True, err_msg=what)


def _three_ways(f, args, exact):
    """Fused (cr.jit), unfused (the same graph as straight-line NumPy) and eager results agree."""
    with np.errstate(all="ignore"):
        want = f(*args)
        jf = cr.jit(f)
        jf(*args)          # the first call returns the values of the trace
        got = jf(*args)    # later calls run the compiled code
        ir = jf.lower(*args).ir
        run, _ = codegen.compile_ir(ir, fused=False)
        unfused = run(*args)[0]
    _same(unfused, want, True, "unfused")
    _same(got, want, exact, "fused")
    return ir


def _fused_names(ir):
    return [e.prim.name for e in fuse.fuse(ir).eqns if e.prim.name.startswith("fused[")]


@st.composite
def chains(draw, ops_unary, ops_binary):
    """``(f, args)``: a random chain of ops over 1-3 inputs of mutually broadcastable shapes."""
    n_in = draw(st.integers(1, 3))
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=n_in, max_dims=3, max_side=3)).input_shapes
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    args = []
    for s in shapes:
        vals = draw(st.lists(st.sampled_from(SPECIAL) | st.floats(-4, 4, width=32),
                             min_size=int(np.prod(s)), max_size=int(np.prod(s))))
        args.append(np.array(vals, dtype=dtype).reshape(s))
    names_u, names_b = sorted(ops_unary), sorted(ops_binary)
    steps = []
    for k in range(draw(st.integers(2, 7))):
        n_vals = n_in + k
        if draw(st.booleans()):
            steps.append((ops_unary[draw(st.sampled_from(names_u))], (draw(st.integers(0, n_vals - 1)),)))
        else:
            steps.append((ops_binary[draw(st.sampled_from(names_b))],
                          (draw(st.integers(0, n_vals - 1)), draw(st.integers(0, n_vals - 1)))))

    def f(*xs):
        vals = list(xs)
        for op, idx in steps:
            vals.append(op(*(vals[i] for i in idx)))
        return vals[-1] if len(vals) < n_in + 2 else vals[-1] + vals[-2]
    return f, args


@settings(max_examples=25, deadline=None, derandomize=True)
@given(chains(EXACT_UNARY, EXACT_BINARY))
def test_random_exact_chains_match_numpy_bit_for_bit(case):
    f, args = case
    _three_ways(f, args, exact=True)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(chains({**EXACT_UNARY, **LIBM_UNARY}, {**EXACT_BINARY, **LIBM_BINARY}))
def test_random_chains_with_libm_functions(case):
    f, args = case
    _three_ways(f, args, exact=False)


def test_a_chain_becomes_one_kernel_and_matches():
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    ir = _three_ways(lambda x: cnp.tanh(cnp.sin(x) * 1.1 + 0.1) * x, [x], exact=False)
    assert _fused_names(ir) == ["fused[sin,multiply,add,tanh]"]
    before = fuse.stats["compiled"] + fuse.stats["loaded"]
    again = cr.jit(lambda x: cnp.tanh(cnp.sin(x) * 1.1 + 0.1) * x)
    again(x)
    again(x)  # the same kernel: no new compile
    assert fuse.stats["compiled"] + fuse.stats["loaded"] == before


@pytest.mark.parametrize("name", sorted(LIBM_UNARY))
def test_each_libm_function_fuses(name):
    op = LIBM_UNARY[name]
    x = np.array([0.25, 0.5, 0.75, 1.5, -0.0, 0.0])
    ir = _three_ways(lambda x: op(x * 0.5) + 1.0, [x], exact=False)
    assert len(_fused_names(ir)) == 1


def test_float32_libm_functions_stay_with_numpy():
    # libm's float32 functions differ from NumPy's float32 loops by several ulps: not fused
    x = np.linspace(0.1, 1.5, 6, dtype=np.float32)
    ir = _three_ways(lambda x: cnp.tanh(x * 2.0 + 1.0) * cnp.sinh(x) ** -2, [x], exact=True)
    assert _fused_names(ir) == ["fused[multiply,add]"]


def test_libm_functions_stay_with_numpy_on_large_arrays():
    # NumPy's SIMD sin beats a libm call per element there; the arithmetic still fuses
    ir = _three_ways(lambda x: cnp.sin(x * 2.0 + 1.0) * 3.0 - x, [np.linspace(0, 1, 1000)], exact=True)
    assert _fused_names(ir) == ["fused[multiply,add]", "fused[multiply,subtract]"]


def test_maximum_minimum_ties_signed_zeros_and_nan_as_numpy():
    # NumPy: NaN propagates from either side; at ties (0.0 vs -0.0) the second argument
    a = np.array([0.0, -0.0, np.nan, 1.0, np.nan, -np.inf, 2.0])
    b = np.array([-0.0, 0.0, 1.0, np.nan, np.nan, np.inf, 2.0])
    for f in (lambda a, b: cnp.maximum(a, b) * 1.0, lambda a, b: cnp.minimum(a, b) * 1.0,
              lambda a, b: cnp.maximum(a * 1.0, b) - cnp.minimum(b, a * 1.0)):
        for dt in (np.float64, np.float32):
            ir = _three_ways(f, [a.astype(dt), b.astype(dt)], exact=True)
            assert _fused_names(ir)


def test_float32_stays_float32_with_python_constants():
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    ir = _three_ways(lambda x: (x * 1.1 + 0.3) / 3.7 - x * x, [x], exact=True)
    assert fuse.fuse(ir).eqns[0].out.dtype == np.float32


def test_integers_bools_and_mixed_dtypes():
    i = np.array([1, -2, 3, 2**62, -7], dtype=np.int64)
    j = np.array([4, 5, -6, 3, 0], dtype=np.int32)
    x = np.array([0.5, -1.5, 2.0, 3.0, -0.0])
    _three_ways(lambda i, j: i * j + i - 3, [i, j], exact=True)               # int64 wraps as NumPy's
    _three_ways(lambda i, j: (i + j) / j * 2, [i, j], exact=True)             # true division: float64
    _three_ways(lambda i, x: cnp.where(i > 0, x * 2.0, i * 1.0), [i, x], exact=True)
    _three_ways(lambda i, x: (x * 2.0 < i) == (x > 0.0), [i, x], exact=True)  # bools from comparisons
    _three_ways(lambda x: cnp.astype(x * 3.0, np.int64) + 1, [x], exact=True)
    _three_ways(lambda i, x: i.astype(np.float32) * x.astype(np.float32) + 1.5, [i, x], exact=True)


def test_broadcasting_operands_and_constant_arrays():
    a = np.arange(12.0).reshape(3, 4) - 5.5
    row, col = np.linspace(-1, 1, 4), np.array([[2.0], [-0.0], [0.5]])
    _three_ways(lambda a, r, c: (a * r + c) * c - r, [a, row, col], exact=True)
    _three_ways(lambda r, c: (r + c) * 2.0 - r * c, [row, col], exact=True)  # (4,) with (3,1): (3,4)
    k = np.array([1.0, -2.0, 3.0, -0.0])
    _three_ways(lambda a: cnp.maximum(a * k, 0.0) + k, [a], exact=True)     # a constant array operand
    s = np.float32(2.5)
    _three_ways(lambda a, s: (a * s + s) * 0.5, [a.astype(np.float32), s], exact=True)


def test_scalars_and_zero_dimensional_values():
    jf = cr.jit(lambda x: x[0] * 2.0)
    assert jf(np.ones(3)) == 2.0 and jf(np.ones(3)) == 2.0
    _three_ways(lambda x: x[0] * 2.0 + x[1], [np.array([1.5, -0.0, 3.0])], exact=True)
    _three_ways(lambda x, y: (x * y - 1.0) * y, [np.float64(1.5), 2.0], exact=True)
    _three_ways(lambda x: (x.reshape(()) * 3.0 + 1.0) * x, [np.array([2.0])], exact=True)
    _three_ways(lambda x: cnp.sum(x * 2.0 + 1.0) * 3.0 - 1.0, [np.arange(4.0)], exact=True)


def test_several_outputs_and_values_read_outside_the_group():
    def f(x, y):
        a = x * y + 1.0
        b = a * a - y
        return cnp.sum(a, axis=0) + b[0] * 2.0 + cnp.sqrt(b * b)
    x, y = np.linspace(-1, 1, 12).reshape(3, 4), np.linspace(2, 3, 4)
    ir = _three_ways(f, [x, y], exact=True)
    assert any(e.prim.name.startswith("fused_out") for e in fuse.fuse(ir).eqns)


def test_strided_and_broadcast_views_as_operands():
    x = np.arange(24.0).reshape(4, 6)
    _three_ways(lambda x: (x.T * 2.0 + 1.0) * x.T, [x], exact=True)      # transposed views
    _three_ways(lambda x: (x * 2.0 + 1.0) - x, [x[:, ::2]], exact=True)  # a strided input
    _three_ways(lambda x: cnp.broadcast_to(x[0], (4, 6)) * 2.0 - x, [x], exact=True)


def test_one_operation_alone_is_not_fused():
    jf = cr.jit(lambda x: cnp.sin(x) @ x)
    ir = jf.lower(np.ones((3, 3))).ir
    assert fuse.fuse(ir) is ir


def test_grad_through_fused_graphs():
    def f(x, y):
        return cnp.sum(cnp.tanh(x * y + 1.0) * cnp.sin(x) - cnp.maximum(x, 0.25) * y)
    x, y = np.linspace(-1, 1, 6), np.linspace(0.5, 1.5, 6)
    want = cr.grad(f, argnums=(0, 1))(x, y)
    jg = cr.jit(cr.grad(f, argnums=(0, 1)))
    jg(x, y)
    got = jg(x, y)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14, atol=0)
    cr.testing.check_grads(cr.jit(f), (x, y), order=2)


def test_jit_of_grad_of_the_overhead_benchmark_chain():
    def loss(x):
        for _ in range(10):
            x = cnp.tanh(x)
            x = cnp.sin(x)
            x = x * 1.1
            x = x + 0.1
        return cnp.sum(x)
    x = np.random.default_rng(0).uniform(-1, 1, 16)
    jg = cr.jit(cr.grad(loss))
    jg(x)
    np.testing.assert_allclose(jg(x), cr.grad(loss)(x), rtol=1e-13, atol=0)
    assert len(_fused_names(jg.lower(x).ir)) == 1  # forward and backward: one loop


def test_describe_shows_the_kernels():
    jf = cr.jit(lambda x: cnp.sin(x) * 2.0 + 1.0)
    text = fuse.describe(jf.lower(np.ones(3)).ir)
    assert "fused[sin,multiply,add]" in text and "def kernel(x0, o0):" in text and "np.sin(x0[i0])" in text


def _child(code, **env):
    import chainrule
    e = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(chainrule.__file__)), **env)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


_CHILD = """
    import json, sys, warnings
    import numpy as np
    import chainrule as cr, chainrule.numpy as cnp
    imported = "numba" in sys.modules
    from chainrule._jit import fuse
    f = cr.jit(lambda x, y: cnp.tanh(x * y + 1.0) * cnp.sin(x) - y)
    g = cr.jit(cr.grad(lambda x: cnp.sum(cnp.sin(x) * x * 3.0 + x)))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for _ in range(2):  # the first call returns the trace's values; kernels compile when code first runs
            a = f(np.linspace(-1, 1, 6), np.float64(0.5))
            b = g(np.linspace(0, 2, 5))
    print(json.dumps({"a": [v.hex() for v in a.tolist()], "b": [v.hex() for v in b.tolist()],
                      "stats": fuse.stats, "warnings": [x.category.__name__ for x in w],
                      "numba_at_import": imported, "numba": "numba" in sys.modules}))
"""


def _child_oracle():
    with np.errstate(all="ignore"):
        x, y = np.linspace(-1, 1, 6), np.float64(0.5)
        a = np.tanh(x * y + 1.0) * np.sin(x) - y
        b = cr.grad(lambda x: cnp.sum(cnp.sin(x) * x * 3.0 + x))(np.linspace(0, 2, 5))
    return a, b


def _values(r):
    return np.array([float.fromhex(v) for v in r["a"]]), np.array([float.fromhex(v) for v in r["b"]])


@pytest.mark.slow
def test_kernels_are_loaded_from_the_disk_cache_by_a_second_process(tmp_path):
    first = _child(_CHILD, CHAINRULE_JIT_CACHE=str(tmp_path))
    second = _child(_CHILD, CHAINRULE_JIT_CACHE=str(tmp_path))
    assert not first["numba_at_import"] and first["numba"]
    assert first["stats"]["compiled"] >= 2 and first["stats"]["loaded"] == 0
    assert second["stats"] == {"compiled": 0, "loaded": first["stats"]["compiled"]}
    assert first["warnings"] == second["warnings"] == []
    assert any(p.suffix == ".py" for p in tmp_path.iterdir())
    a, b = _child_oracle()
    for r in (first, second):
        ga, gb = _values(r)
        np.testing.assert_allclose(ga, a, rtol=1e-14, atol=0)
        np.testing.assert_allclose(gb, b, rtol=1e-14, atol=0)


@pytest.mark.slow
def test_without_numba_jit_runs_numpy_and_warns_once(tmp_path):
    r = _child(_CHILD, CHAINRULE_JIT_NUMBA="0", CHAINRULE_JIT_CACHE=str(tmp_path))
    assert r["warnings"] == ["FusionWarning"]
    assert not r["numba"] and r["stats"] == {"compiled": 0, "loaded": 0}
    a, b = _child_oracle()
    ga, gb = _values(r)
    np.testing.assert_array_equal(ga, a)  # straight-line NumPy: NumPy's values exactly
    np.testing.assert_array_equal(gb, b)
    assert not any(tmp_path.iterdir())


def test_fusion_off_in_process_warns_and_keeps_the_graph(monkeypatch):
    ir = cr.make_ir(lambda x: cnp.sin(x) * 2.0 + 1.0)(np.ones(3))
    monkeypatch.setenv("CHAINRULE_JIT_NUMBA", "0")
    monkeypatch.setattr(fuse, "_warned", False)
    with pytest.warns(fuse.FusionWarning, match=r"pip install 'chainrule\[jit\]'"):
        assert fuse.fuse(ir) is ir


def test_clear_cache_deletes_the_kernels_and_jit_compiles_again(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_JIT_CACHE", str(tmp_path / "k"))
    assert fuse.cache_dir() == str(tmp_path / "k")
    f = lambda x: (x * 3.0 - 1.0) * x  # noqa: E731
    x = np.linspace(-1, 1, 5)
    _three_ways(f, [x], exact=True)
    assert any(p.name.startswith("fk_") for p in (tmp_path / "k").iterdir())
    assert fuse.clear_cache() >= 2  # the source and Numba's files
    assert not (tmp_path / "k").exists()
    before = fuse.stats["compiled"]
    _three_ways(f, [x], exact=True)
    assert fuse.stats["compiled"] == before + 1


def test_a_kernel_numba_cannot_compile_runs_with_numpy(monkeypatch):
    # a scalar expression that does not type in Numba: that group warns once and runs NumPy's impls
    from chainrule._ops.elementwise import add_p
    monkeypatch.setattr(add_p, "scalar", "({0} + {1} + no_such_function())")
    f = lambda x: (x * 2.0 + 1.0) * x  # noqa: E731
    with pytest.warns(fuse.FusionWarning, match="could not compile a fused kernel"):
        _three_ways(f, [np.linspace(-1, 1, 7)], exact=True)


def test_a_long_chain_is_cut_into_kernels_of_at_most_max_group_equations():
    """An unrolled loop's running sum chains hundreds of elementwise operations; one kernel of
    them all took Numba minutes to compile (a 400-step RNN: 161 s).  Groups stop at MAX_GROUP."""
    def f(x):
        total = x[0] * 0.0
        for k in range(150):
            total = total + cnp.sin(x[k % 3]) * k
        return total
    x = np.array([0.3, -0.2, 0.9])
    ir = cr.make_ir(f)(x)
    groups, _ = fuse._groups(ir)
    assert groups and max(map(len, groups)) <= fuse.MAX_GROUP
    assert sum(map(len, groups)) > 2 * fuse.MAX_GROUP  # the chain still fuses, in several kernels
    np.testing.assert_allclose(cr.jit(f)(x), f(x), rtol=1e-13)
