"""vmap of every function in the op tables of ``test_ops.py`` against the Python loop.

The tables (elementwise, reductions, matmul, shape, indexing) are the ones whose
derivatives ``test_ops.py`` checks against finite differences; here each function is
mapped over a batch and compared with the loop of the function, and its per-example
gradients with the loop of ``grad``.  Binary ops are also mapped with one operand
unbatched (``in_axes=None``).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from test_ops import (BINARY, BINARY_SHAPES, INDEXES, MATMUL_SHAPES, REDUCTION_CASES, REDUCTIONS, SHAPE_OPS,
                      UNARY, _grid, _make)

B = 3


def _batch(domain, shape, seed):
    return _make(domain, (B,) + tuple(shape), seed)


def _check(f, xs, in_axes=0):
    """vmap(f) against the loop, and vmap(grad) against the loop of grad (first argument)."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(xs)
    pick = lambda b: [x if a is None else x[b] for x, a in zip(xs, axes)]  # noqa: E731
    want = np.stack([np.asarray(f(*pick(b))) for b in range(B)])
    np.testing.assert_allclose(cr.vmap(f, in_axes=in_axes)(*xs), want, rtol=1e-12, atol=1e-14)
    if axes[0] is None:
        return
    g = cr.grad(lambda *a: cnp.sum(cnp.sin(f(*a))))
    want = np.stack([np.asarray(g(*pick(b))) for b in range(B)])
    np.testing.assert_allclose(cr.vmap(g, in_axes=in_axes)(*xs), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("in_axes", [0, (0, None), (None, 0)], ids=str)
@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, shapes, in_axes):
    f, dx, dy = BINARY[name]
    xs = [_batch(dx, shapes[0], 1), _batch(dy, shapes[1], 2)]
    axes = in_axes if isinstance(in_axes, tuple) else (0, 0)
    _check(f, [x if a is not None else x[0] for x, a in zip(xs, axes)], in_axes)


@pytest.mark.parametrize("shape", [(), (3,), (3, 2)], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, shape):
    f, dom = UNARY[name]
    _check(f, [_batch(dom, shape, 3)])


@pytest.mark.parametrize("in_axes", [0, (0, None), (None, 0)], ids=str)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, in_axes):
    a, b = _make(_grid, (B,) + shapes[0], 5), _make(_grid, (B,) + shapes[1], 6)
    axes = in_axes if isinstance(in_axes, tuple) else (0, 0)
    _check(cnp.matmul, [x if ax is not None else x[0] for x, ax in zip((a, b), axes)], in_axes)


@pytest.mark.parametrize("name,f,shape", SHAPE_OPS, ids=[c[0] for c in SHAPE_OPS])
def test_shape_op(name, f, shape):
    _check(f, [_batch(_grid, shape, 7)])


@pytest.mark.parametrize("name,f", [c for c in INDEXES if "traced values" not in c[0]],
                         ids=[c[0] for c in INDEXES if "traced values" not in c[0]])
def test_getitem(name, f):
    _check(f, [_batch(_grid, (4, 3), 8) + 0.01])


def test_a_mask_from_batched_values_says_use_where():
    with pytest.raises(IndexError, match="cnp.where"):
        cr.vmap(lambda x: x[x > 0.1])(_batch(_grid, (4, 3), 8))


# -- the tables of test_ops_linalg, test_ops_reductions, test_ops_shape, test_ops_update ----------

from test_ops_linalg import EINSUM, NORMS, TOP  # noqa: E402
from test_ops_reductions import CASES as RCASES  # noqa: E402
from test_ops_reductions import CUM_CASES, CUMULATIVE  # noqa: E402
from test_ops_reductions import REDUCTIONS as MORE_REDUCTIONS  # noqa: E402
from test_ops_reductions import _valid  # noqa: E402
from test_ops_shape import CASES as SHAPE_CASES  # noqa: E402
from test_ops_update import INDICES  # noqa: E402


def _normal(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((B,) + tuple(s)) for s in shapes]


@pytest.mark.parametrize("name", list(TOP))
def test_linalg_products(name):
    f, _, shapes = TOP[name]
    _check(f, _normal(shapes, 9))


@pytest.mark.parametrize("subs", list(EINSUM))
def test_einsum(subs):
    shapes = EINSUM[subs]
    _check(lambda *ops: cnp.einsum(subs, *ops), _normal(shapes, 10))
    if len(shapes) > 1:  # the last operand shared by the batch
        xs = _normal(shapes, 11)
        _check(lambda *ops: cnp.einsum(subs, *ops), xs[:-1] + [xs[-1][0]], (0,) * (len(xs) - 1) + (None,))


@pytest.mark.parametrize("name", list(NORMS))
def test_norm(name):
    f, shape = NORMS[name]
    _check(f, _normal([shape], 12))


#: name -> (function, maker of a batch of inputs: one draw, so every example keeps distinct entries)
ALL_REDUCTIONS = {**{n: (f, lambda shape, dom=dom: _make(dom, shape, 4)) for n, (f, dom) in REDUCTIONS.items()},
                  **{n: (f, lambda shape, mk=mk: mk(shape, 13)) for n, (f, _, mk) in MORE_REDUCTIONS.items()}}
ALL_CASES = REDUCTION_CASES + [c for c in RCASES if c not in REDUCTION_CASES]


@pytest.mark.parametrize("name,shape,axis,keepdims", [(n, s, a, k) for n in ALL_REDUCTIONS for s, a in ALL_CASES
                                                      for k in (False, True)], ids=str)
def test_reduction(name, shape, axis, keepdims):
    if not _valid(name, shape, axis):
        pytest.skip("not a valid reduction (as in test_ops_reductions)")
    f, make = ALL_REDUCTIONS[name]
    _check(lambda x: f(x, axis=axis, keepdims=keepdims), [make((B,) + shape)])


@pytest.mark.parametrize("shape,axis", CUM_CASES, ids=str)
@pytest.mark.parametrize("name", list(CUMULATIVE))
def test_cumulative(name, shape, axis):
    f, _, make = CUMULATIVE[name]
    _check(lambda x: f(x, axis=axis), [make((B,) + shape, 14)])


def test_cumprod_with_zeros_in_some_examples():
    """The exact O(n^2) partials are taken for the batch when any example has a zero."""
    xs = np.array([[2.0, 0.0, 3.0], [1.5, 2.0, -1.0], [0.0, 0.0, 4.0]])
    _check(lambda x: cnp.cumprod(x), [xs])


@pytest.mark.parametrize("name", list(SHAPE_CASES))
def test_shape_functions(name):
    f, _, shape = SHAPE_CASES[name]
    _check(f, _normal([shape], 15))


@pytest.mark.parametrize("name", list(INDICES))
def test_at_set_and_add(name):
    idx = INDICES[name]
    xs, vs = _normal([(4, 2), np.empty((4, 2))[idx].shape], 16)
    _check(lambda x, v: cnp.at(x)[idx].add(v) * cnp.at(x)[idx].set(v * 2.0), [xs, vs])
