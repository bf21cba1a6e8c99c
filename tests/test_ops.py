"""Every differentiable function of ``chainrule.numpy``, from a table of ops x shapes.

Each row is checked by ``check_grads``: random-direction JVPs and element-by-element
VJPs against central finite differences, recursively to order 2 in both modes (fwd,
rev, fwd of fwd, rev of fwd, fwd of rev, rev of rev).  Inputs are drawn from a safe
domain per op: positive where a log or a root needs it, away from zero for divisors,
away from ties for max/maximum/minimum.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

# -- input domains ---------------------------------------------------------------


def _any(rng, shape):
    return rng.standard_normal(shape)


def _pos(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _grid(rng, shape):
    # multiples of 0.3: two draws never tie with an ``_offgrid`` draw
    return 0.3 * rng.integers(-5, 6, shape).astype(float)


def _offgrid(rng, shape):
    return _grid(rng, shape) + 0.15


def _distinct(rng, shape):
    # all entries distinct and at least 0.25 apart: max has a unique argmax
    n = int(np.prod(shape, dtype=int))
    return (0.25 * rng.permutation(n) - 0.3).reshape(shape)


def _unit(rng, shape):
    return rng.uniform(-0.9, 0.9, shape)


def _above_one(rng, shape):
    return rng.uniform(1.5, 3.0, shape)


def _nonzero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def _make(domain, shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return np.asarray(domain(rng, shape), dtype=dtype)


# -- the table ---------------------------------------------------------------------

SCALAR, VEC, MAT = (), (3,), (3, 2)

#: broadcasting pairs of shapes for binary elementwise ops
BINARY_SHAPES = [
    ((), ()),
    (VEC, VEC),
    (MAT, MAT),
    ((3, 2), (1, 2)),
    ((3, 1), (1, 2)),
    ((2, 3, 2), (3, 2)),
    ((), (3, 2)),
    ((3, 2), ()),
    ((3,), (2, 3)),
    ((2, 1, 2), (3, 1)),
]

#: name -> (function, domain of x, domain of y)
BINARY = {
    "add": (cnp.add, _any, _any),
    "subtract": (cnp.subtract, _any, _any),
    "multiply": (cnp.multiply, _any, _any),
    "divide": (cnp.divide, _any, _pos),
    "true_divide": (cnp.true_divide, _any, _pos),
    "power": (cnp.power, _pos, _any),
    "maximum": (cnp.maximum, _grid, _offgrid),
    "minimum": (cnp.minimum, _grid, _offgrid),
    "logaddexp": (cnp.logaddexp, _any, _any),
    "logaddexp2": (cnp.logaddexp2, _any, _any),
    "arctan2": (cnp.arctan2, _nonzero, _nonzero),
    "hypot": (cnp.hypot, _nonzero, _nonzero),
    "op +": (lambda x, y: x + y, _any, _any),
    "op -": (lambda x, y: x - y, _any, _any),
    "op *": (lambda x, y: x * y, _any, _any),
    "op /": (lambda x, y: x / y, _any, _pos),
    "op **": (lambda x, y: x ** y, _pos, _any),
}

#: name -> (function, domain)
UNARY = {
    "negative": (cnp.negative, _any),
    "exp": (cnp.exp, _any),
    "log": (cnp.log, _pos),
    "sqrt": (cnp.sqrt, _pos),
    "sin": (cnp.sin, _any),
    "cos": (cnp.cos, _any),
    "tanh": (cnp.tanh, _any),
    "square": (cnp.square, _any),
    "reciprocal": (cnp.reciprocal, _pos),
    "cbrt": (cnp.cbrt, _nonzero),
    "exp2": (cnp.exp2, _any),
    "expm1": (cnp.expm1, _any),
    "log2": (cnp.log2, _pos),
    "log10": (cnp.log10, _pos),
    "log1p": (cnp.log1p, _pos),
    "abs": (cnp.abs, _nonzero),
    "absolute": (cnp.absolute, _nonzero),
    "tan": (cnp.tan, _unit),
    "arcsin": (cnp.arcsin, _unit),
    "arccos": (cnp.arccos, _unit),
    "arctan": (cnp.arctan, _any),
    "sinh": (cnp.sinh, _any),
    "cosh": (cnp.cosh, _any),
    "arcsinh": (cnp.arcsinh, _any),
    "arccosh": (cnp.arccosh, _above_one),
    "arctanh": (cnp.arctanh, _unit),
    "clip": (lambda x: cnp.clip(x, -0.75, 0.6), _offgrid),
    "op abs()": (lambda x: abs(x), _nonzero),
    "op unary -": (lambda x: -x, _any),
    "op ** 2": (lambda x: x ** 2, _any),
    "op ** 3": (lambda x: x ** 3, _any),
    "op ** -2": (lambda x: x ** -2, _pos),
    "op ** 0.5": (lambda x: x ** 0.5, _pos),
    "op ** 0": (lambda x: x ** 0, _any),
    "op 2 ** x": (lambda x: 2.0 ** x, _any),
    "op 1 / x": (lambda x: 1.0 / x, _pos),
    "op 3 - x": (lambda x: 3.0 - x, _any),
    "astype float64": (lambda x: cnp.astype(x, np.float64), _any),
    "astype same dtype": (lambda x: x.astype(x.dtype) * x, _any),
}

UNARY_SHAPES = [SCALAR, VEC, MAT, (2, 3, 2)]


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_elementwise(name, shapes):
    f, dx, dy = BINARY[name]
    x = _make(dx, shapes[0], 0)
    y = _make(dy, shapes[1], 1)
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power", "maximum"])
@pytest.mark.parametrize("side", ["left constant", "right constant"])
def test_binary_with_one_constant_operand(name, side):
    """Only one operand traced (the other a plain array, broadcast against it)."""
    f, dx, dy = BINARY[name]
    x = _make(dx, (3, 2), 2)
    y = _make(dy, (1, 2), 3)
    if side == "left constant":
        check_grads(lambda y: f(x, y), (y,), order=2)
    else:
        check_grads(lambda x: f(x, y), (x,), order=2)


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    f, dom = UNARY[name]
    check_grads(f, (_make(dom, shape, 4),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", ["exp", "log", "sin", "cos", "tanh", "sqrt"])
def test_elementwise_methods_of_tracers(name):
    """``x.exp()`` etc. exist on tracers (not on ndarrays): same values and derivatives as ``cnp.exp``."""
    fn = getattr(cnp, name)
    x = _make(_pos, (3, 2), 34)
    c = _make(_any, (3, 2), 35)
    g_method = cr.grad(lambda x: cnp.sum(getattr(x * 1.0, name)() * c))(x)
    g_fn = cr.grad(lambda x: cnp.sum(fn(x) * c))(x)
    np.testing.assert_allclose(g_method, g_fn, rtol=1e-12)
    out, t_out = cr.jvp(lambda x: getattr(x, name)(), (x,), (c,))
    np.testing.assert_allclose(out, getattr(np, name)(x))
    np.testing.assert_allclose(t_out, cr.jvp(fn, (x,), (c,))[1], rtol=1e-12)


def test_astype_to_float32_and_back():
    # float64 -> float32 rounds, so finite differences need float32's step and tolerance
    x = _make(_any, (3, 2), 5)
    check_grads(lambda x: cnp.astype(x, np.float32) * 2.0, (x,), order=2, eps=1e-3, rtol=2e-3)
    x32 = x.astype(np.float32)
    check_grads(lambda x: cnp.sin(cnp.astype(x, np.float64)), (x32,), order=2)


# -- where -------------------------------------------------------------------------

WHERE_CASES = [
    # (condition shape, x shape, y shape)
    ((3,), (3,), (3,)),
    ((3, 2), (3, 2), (3, 2)),
    ((3, 2), (1, 2), ()),
    ((3, 1), (), (1, 2)),
    ((), (3, 2), (3, 2)),
    ((2, 3, 2), (3, 2), (2, 1, 1)),
]


@pytest.mark.parametrize("cshape,xshape,yshape", WHERE_CASES, ids=str)
def test_where(cshape, xshape, yshape):
    rng = np.random.default_rng(6)
    c = rng.random(cshape) > 0.4
    x = _make(_any, xshape, 7)
    y = _make(_any, yshape, 8)
    check_grads(lambda x, y: cnp.where(c, x, y), (x, y), order=2)
    check_grads(lambda x: cnp.where(c, x, 0.0) * x, (x,), order=2)


def test_where_condition_from_a_traced_comparison():
    x = _make(_grid, (3, 2), 9) + 0.01
    check_grads(lambda x: cnp.where(x > 0, x * x, cnp.sin(x)), (x,), order=2)


# -- reductions --------------------------------------------------------------------

REDUCTIONS = {
    "sum": (cnp.sum, _any),
    "mean": (cnp.mean, _any),
    "max": (cnp.max, _distinct),
    "amax": (cnp.amax, _distinct),
}

REDUCTION_CASES = [
    ((), None),
    ((3,), None),
    ((3,), 0),
    ((3,), -1),
    ((3, 2), None),
    ((3, 2), 0),
    ((3, 2), 1),
    ((3, 2), -1),
    ((3, 2), (0, 1)),
    ((2, 3, 2), (0, 2)),
    ((2, 3, 2), (-1, 0)),
    ((2, 3, 2), 1),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", REDUCTION_CASES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction(name, shape, axis, keepdims):
    f, dom = REDUCTIONS[name]
    x = _make(dom, shape, 10)
    check_grads(lambda x: f(x, axis=axis, keepdims=keepdims), (x,), order=2)


@pytest.mark.parametrize("method", ["sum", "mean", "max"])
@pytest.mark.parametrize("kwargs", [{}, {"axis": 0}, {"axis": -1, "keepdims": True}], ids=str)
def test_reduction_methods(method, kwargs):
    x = _make(_distinct, (3, 2), 11)
    check_grads(lambda x: getattr(x, method)(**kwargs) * 1.5, (x,), order=2)


# -- products ----------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 2)),
    ((2, 3), (3, 4)),
    ((2, 2, 3), (3, 4)),
    ((3,), (2, 3, 4)),
    ((2, 2, 3), (3,)),
    ((1, 2, 3), (2, 3, 4)),
]


MATMUL_FORMS = {"matmul": cnp.matmul, "@": lambda a, b: a @ b, "dot": cnp.dot}


@pytest.mark.parametrize("form,shapes", [
    (form, shapes) for form in MATMUL_FORMS for shapes in MATMUL_SHAPES
    if not (form == "dot" and len(shapes[1]) > 2)  # N-D dot contracts differently: test_dot
], ids=str)
def test_matmul(form, shapes):
    f = MATMUL_FORMS[form]
    check_grads(f, (_make(_any, shapes[0], 12), _make(_any, shapes[1], 13)), order=2)


@pytest.mark.parametrize("shapes", [((), (3, 2)), ((3, 2), ()), ((3,), (3,)), ((2, 3), (3, 4)),
                                    ((2, 3), (4, 3, 2)), ((2, 2, 3), (3,))], ids=str)
def test_dot(shapes):
    a, b = _make(_any, shapes[0], 14), _make(_any, shapes[1], 15)
    check_grads(cnp.dot, (a, b), order=2)
    np.testing.assert_allclose(cnp.dot(a, b), np.dot(a, b))


def test_dot_method_and_rmatmul():
    a, b = _make(_any, (2, 3), 16), _make(_any, (3, 2), 17)
    check_grads(lambda a, b: a.dot(b), (a, b), order=2)
    check_grads(lambda b: a @ b, (b,), order=2)  # ndarray @ tracer


# -- shape ---------------------------------------------------------------------------

SHAPE_OPS = [
    # (name, function, input shape)
    ("reshape flat", lambda x: cnp.reshape(x, (6,)), (3, 2)),
    ("reshape 2x3", lambda x: cnp.reshape(x, (2, 3)), (3, 2)),
    ("reshape -1", lambda x: cnp.reshape(x, -1), (3, 2)),
    ("reshape add axis", lambda x: cnp.reshape(x, (3, 1, 2)), (3, 2)),
    ("reshape scalar to (1,1)", lambda x: cnp.reshape(x, (1, 1)), ()),
    ("reshape same shape", lambda x: cnp.reshape(x, (3, 2)) * x, (3, 2)),
    ("method reshape ints", lambda x: x.reshape(2, 3), (3, 2)),
    ("method reshape tuple", lambda x: x.reshape((6, 1)), (3, 2)),
    ("transpose", cnp.transpose, (3, 2)),
    ("transpose 1-D", cnp.transpose, (3,)),
    ("transpose axes", lambda x: cnp.transpose(x, (2, 0, 1)), (2, 3, 2)),
    ("transpose negative axes", lambda x: cnp.transpose(x, (-1, 0, 1)), (2, 3, 2)),
    ("method transpose", lambda x: x.transpose(), (2, 3, 2)),
    ("method transpose axes", lambda x: x.transpose(1, 0, 2), (2, 3, 2)),
    ("method transpose tuple", lambda x: x.transpose((0, 2, 1)), (2, 3, 2)),
    (".T", lambda x: x.T, (3, 2)),
    (".T scalar", lambda x: x.T, ()),
    ("swapaxes", lambda x: cnp.swapaxes(x, 0, 1), (3, 2)),
    ("swapaxes negative", lambda x: cnp.swapaxes(x, 0, -1), (2, 3, 2)),
    ("broadcast_to scalar", lambda x: cnp.broadcast_to(x, (3, 2)), ()),
    ("broadcast_to row", lambda x: cnp.broadcast_to(x, (3, 2)), (2,)),
    ("broadcast_to column", lambda x: cnp.broadcast_to(x, (2, 3, 4)), (3, 1)),
    ("broadcast_to same", lambda x: cnp.broadcast_to(x, (3, 2)) * x, (3, 2)),
]


@pytest.mark.parametrize("name,f,shape", SHAPE_OPS, ids=[c[0] for c in SHAPE_OPS])
def test_shape_op(name, f, shape):
    check_grads(f, (_make(_any, shape, 18),), order=2)


# -- indexing ------------------------------------------------------------------------

INDEXES = [
    ("int", lambda x: x[1]),
    ("negative int", lambda x: x[-1]),
    ("two ints", lambda x: x[2, 1]),
    ("negative pair", lambda x: x[-1, -2]),
    ("slice", lambda x: x[1:3]),
    ("slice with step", lambda x: x[::2]),
    ("negative step", lambda x: x[::-1]),
    ("slice both axes", lambda x: x[1:, ::-2]),
    ("negative slice bounds", lambda x: x[-3:-1, -1:]),
    ("None", lambda x: x[None]),
    ("None in the middle", lambda x: x[:, None, 1:]),
    ("Ellipsis", lambda x: x[..., 1]),
    ("Ellipsis and None", lambda x: x[None, ..., None]),
    ("integer array", lambda x: x[np.array([3, 0, 2])]),
    ("repeated indices", lambda x: x[np.array([0, 0, 2, 0])]),
    ("list of ints with repeats", lambda x: x[[1, 1, 3]]),
    ("negative integer array", lambda x: x[np.array([-1, -4, -1])]),
    ("2-D integer array", lambda x: x[np.array([[0, 1], [1, 1]])]),
    ("two integer arrays", lambda x: x[np.array([0, 2, 0]), np.array([1, 0, 1])]),
    ("integer array and slice", lambda x: x[1:, np.array([1, 1, 0])]),
    ("slice and repeated column", lambda x: x[np.array([2, 2]), 1:]),
    ("boolean mask rows", lambda x: x[np.array([True, False, True, True])]),
    ("boolean mask elements", lambda x: x[np.arange(12).reshape(4, 3) % 3 == 1]),
    ("boolean mask from the traced values", lambda x: x[x > 0.1]),
    ("mask and slice", lambda x: x[np.array([False, True, True, False]), ::2]),
]


@pytest.mark.parametrize("name,f", INDEXES, ids=[c[0] for c in INDEXES])
def test_getitem(name, f):
    x = _make(_grid, (4, 3), 19) + 0.01
    check_grads(f, (x,), order=2)
    np.testing.assert_array_equal(_raw_value(f(cr.tensor(x, requires_grad=True))), f(x))


def test_getitem_3d_with_ellipsis():
    x = _make(_any, (2, 3, 4), 20)
    check_grads(lambda x: x[..., 1:3][0, ..., ::-1], (x,), order=2)
    check_grads(lambda x: x[1, ..., np.array([0, 0, 3])], (x,), order=2)


def test_getitem_of_vector_and_iteration():
    x = _make(_any, (3,), 21)
    check_grads(lambda x: x[0] * x[2] + x[-1] ** 2, (x,), order=2)
    check_grads(lambda x: sum(xi * (i + 1) for i, xi in enumerate(x)), (x,), order=2)


def _raw_value(t):
    return t.detach().numpy()


# -- composite expressions: several ops and fan-out in one function ---------------------

def test_composite_with_fan_out():
    W = _make(_any, (3, 4), 22)
    b = _make(_any, (4,), 23)
    x = _make(_any, (2, 3), 24)

    def mlp(W, b, x):
        h = cnp.tanh(x @ W + b)
        return cnp.mean((h - h.max(axis=1, keepdims=True)) ** 2) + cnp.sum(W * W) * 0.01

    check_grads(mlp, (W, b, x), order=2)


# -- float32 -------------------------------------------------------------------------

F32_UNARY = ["negative", "exp", "log", "sqrt", "sin", "cos", "tanh", "op ** 3", "op 1 / x"]
F32_BINARY = ["add", "subtract", "multiply", "divide", "power", "maximum"]


@pytest.mark.parametrize("name", F32_UNARY)
def test_float32_unary(name):
    f, dom = UNARY[name]
    x = _make(dom, (3, 2), 25, np.float32)
    check_grads(f, (x,), order=2)
    _assert_float32_derivatives(lambda x: cnp.sum(f(x)), (x,))


@pytest.mark.parametrize("name", F32_BINARY)
def test_float32_binary(name):
    f, dx, dy = BINARY[name]
    x = _make(dx, (3, 2), 26, np.float32)
    y = _make(dy, (1, 2), 27, np.float32)
    check_grads(f, (x, y), order=2)
    _assert_float32_derivatives(lambda x, y: cnp.sum(f(x, y)), (x, y))


@pytest.mark.parametrize("name,f", [
    ("sum", lambda x: cnp.sum(x, axis=0)),
    ("mean", lambda x: cnp.mean(x, axis=1)),
    ("max", lambda x: cnp.max(x)),
    ("matmul", lambda x: x @ x.T),
    ("getitem", lambda x: x[np.array([0, 0, 2]), ::-1]),
    ("where", lambda x: cnp.where(x > 0.5, x, -x)),
    ("python float constants", lambda x: 0.5 * x + 2.0 / (x + 1.0)),
])
def test_float32_more(name, f):
    x = _make(_distinct, (3, 2), 28, np.float32) + np.float32(1.0)
    check_grads(f, (x,), order=2)
    _assert_float32_derivatives(lambda x: cnp.sum(f(x)), (x,))


def _assert_float32_derivatives(scalar_f, args):
    n = len(args)
    grads = cr.grad(scalar_f, argnums=tuple(range(n)))(*args)
    for g in grads:
        assert g.dtype == np.float32, g.dtype
    out, t_out = cr.jvp(scalar_f, args, args)
    assert np.asarray(out).dtype == np.float32
    assert np.asarray(t_out).dtype == np.float32
    hess_diag = cr.grad(lambda *a: cnp.sum(cr.grad(scalar_f)(*a)))(*args)
    assert hess_diag.dtype == np.float32
    leaves = [cr.tensor(a, requires_grad=True) for a in args]
    scalar_f(*leaves).backward()
    for t in leaves:
        assert t.grad.dtype == np.float32


# -- hypothesis: broadcasting shapes for every binary elementwise op ---------------------

@settings(max_examples=25, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       name=st.sampled_from(sorted(BINARY)),
       seed=st.integers(0, 2**16))
def test_binary_broadcasting_hypothesis(shapes, name, seed):
    f, dx, dy = BINARY[name]
    x = _make(dx, shapes.input_shapes[0], seed)
    y = _make(dy, shapes.input_shapes[1], seed + 1)
    check_grads(f, (x, y), order=2, modes=("fwd", "rev"))
    assert np.shape(f(x, y)) == shapes.result_shape


@settings(max_examples=25, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(REDUCTIONS)), keepdims=st.booleans())
def test_reduction_hypothesis(data, name, keepdims):
    f, dom = REDUCTIONS[name]
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3), label="shape")
    axes = st.none() if not shape else st.none() | hnp.valid_tuple_axes(len(shape), min_size=1)
    axis = data.draw(axes, label="axis")
    x = _make(dom, shape, data.draw(st.integers(0, 2**16), label="seed"))
    check_grads(lambda x: f(x, axis=axis, keepdims=keepdims), (x,), order=2)


# -- outside any transform: drop-in NumPy ------------------------------------------------

@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "true_divide", "power",
                                  "maximum", "minimum"])
def test_binary_without_tracers_is_numpy(name):
    f, dx, dy = BINARY[name]
    x, y = _make(dx, (3, 2), 29), _make(dy, (1, 2), 30)
    out = f(x, y)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, getattr(np, name)(x, y))


@pytest.mark.parametrize("name", ["negative", "exp", "log", "sqrt", "sin", "cos", "tanh"])
def test_unary_without_tracers_is_numpy(name):
    x = _make(_pos, (3, 2), 31)
    out = getattr(cnp, name)(x)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, getattr(np, name)(x))
    s = getattr(cnp, name)(np.float64(0.7))
    assert isinstance(s, np.generic) and s == getattr(np, name)(np.float64(0.7))


def test_other_functions_without_tracers_are_numpy():
    x = _make(_any, (3, 2), 32)
    assert type(cnp.sum(x, axis=0)) is np.ndarray
    np.testing.assert_array_equal(cnp.mean(x, axis=1, keepdims=True), np.mean(x, axis=1, keepdims=True))
    np.testing.assert_array_equal(cnp.max(x, axis=0), np.max(x, axis=0))
    np.testing.assert_array_equal(cnp.matmul(x.T, x), x.T @ x)
    np.testing.assert_array_equal(cnp.reshape(x, (2, 3)), x.reshape(2, 3))
    np.testing.assert_array_equal(cnp.transpose(x), x.T)
    np.testing.assert_array_equal(cnp.swapaxes(x, 0, 1), x.T)
    np.testing.assert_array_equal(cnp.broadcast_to(x[0], (4, 2)), np.broadcast_to(x[0], (4, 2)))
    np.testing.assert_array_equal(cnp.where(x > 0, x, 0.0), np.where(x > 0, x, 0.0))
    assert cnp.astype(x, np.float32).dtype == np.float32
    assert type(cnp.zeros_like(x)) is np.ndarray and cnp.ones((2,)).tolist() == [1.0, 1.0]
    assert type(cnp.array([1.0, 2.0])) is np.ndarray


def test_creation_functions_inside_a_transform_are_constants():
    def f(x):
        z = cnp.zeros_like(x)
        o = cnp.ones_like(x)
        assert type(z) is np.ndarray and z.shape == x.shape and z.dtype == x.dtype
        return cnp.sum((x + o + z) ** 2)

    x = _make(_any, (3, 2), 33)
    np.testing.assert_allclose(cr.grad(f)(x), 2 * (x + 1))


# -- the table covers the namespace ----------------------------------------------------------

NOT_DIFFERENTIABLE = {  # constants, creation, comparisons, rounding: tested elsewhere
    "array", "asarray", "ones", "ones_like", "zeros", "zeros_like", "from_dlpack",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "floor", "ceil", "trunc", "round", "sign", "isnan", "isinf", "isfinite",
    "any", "all",  # boolean reductions: tests/test_reductions_logical.py
}
COVERED_ELSEWHERE = {"where", "sum", "mean", "max", "amax", "matmul", "dot", "reshape", "transpose",
                     "swapaxes", "broadcast_to", "astype"}


def _covered_by_other_files():
    """The ``COVERED`` sets of tests/test_ops_*.py: each family file lists what it tests."""
    import importlib
    import pathlib
    names = set()
    for path in sorted(pathlib.Path(__file__).parent.glob("test_ops_*.py")):
        names |= set(importlib.import_module(path.stem).COVERED)
    return names


def test_every_public_function_is_in_the_table():
    public = {n for n in dir(cnp) if not n.startswith("_") and callable(getattr(cnp, n))
              and getattr(getattr(cnp, n), "__module__", "").startswith("chainrule")}
    covered = set(BINARY) | set(UNARY) | NOT_DIFFERENTIABLE | COVERED_ELSEWHERE | _covered_by_other_files()
    missing = public - covered
    assert not missing, f"add these chainrule.numpy functions to the table in tests/test_ops.py: {sorted(missing)}"


ROUNDING = {"floor": cnp.floor, "ceil": cnp.ceil, "trunc": cnp.trunc, "sign": cnp.sign,
            "round": cnp.round, "round(decimals=1)": lambda x: cnp.round(x, 1)}


@pytest.mark.parametrize("name", list(ROUNDING))
def test_rounding_has_zero_derivative_in_both_modes(name):
    f = ROUNDING[name]
    x = _make(_offgrid, (3, 2), 40)
    expected = {"round(decimals=1)": np.round(x, 1)}.get(name, getattr(np, name.split("(")[0])(x))
    np.testing.assert_array_equal(f(x), expected)
    np.testing.assert_array_equal(cr.grad(lambda v: cnp.sum(f(v) * v))(x), expected)  # d/dv f(v) v = f(v)
    _, t = cr.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(t, np.zeros_like(x))
    tape = cr.tensor(x, requires_grad=True)
    assert not f(tape).requires_grad
