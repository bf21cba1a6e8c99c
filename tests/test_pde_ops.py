"""The forward Laplacian and the Hessian diagonal through every function of the op tables.

The cases are ``test_jit_ops.CASES`` (with ``test_jet_ops``' extras), which together stage
every registered primitive.  Each case's float inputs are flattened into one point z and its
float outputs contracted with fixed random weights, ``s(z) = sum_leaves sum(w * leaf)``; the
oracle is ``cr.hessian(s)`` (forward over reverse, another engine): its trace for
``cr.laplacian`` (the forward Laplacian's rule of every primitive, generic or shortcut) and
its diagonal for ``cr.hessian_diag`` (the per-direction variant).
"""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._core.pytree import tree_flatten
from test_jet_ops import CASES, _on_floats

pytestmark = pytest.mark.slow


def _scalar_of_point(f, xs):
    g, fx = _on_floats(f, xs)
    if not fx:
        pytest.skip("no float input")
    shapes = [x.shape for x in fx]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    dtype = np.result_type(*fx)
    z0 = np.concatenate([x.ravel().astype(dtype) for x in fx])
    all_leaves = tree_flatten(g(*fx))[0]
    floats = [i for i, leaf in enumerate(all_leaves) if np.issubdtype(np.result_type(leaf), np.floating)]
    leaves = [all_leaves[i] for i in floats]
    if not leaves:
        pytest.skip("no float output")
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal(np.shape(leaf)).astype(np.result_type(leaf)) for leaf in leaves]

    def s(z):
        parts, k = [], 0
        for shape, n in zip(shapes, sizes):
            parts.append(cnp.reshape(z[k:k + n], shape))
            k += n
        out = tree_flatten(g(*parts))[0]
        out = [out[i] for i in floats]
        return sum(cnp.sum(w * leaf) for w, leaf in zip(ws, out))

    return s, z0


@pytest.mark.parametrize("name", list(CASES))
def test_forward_laplacian_matches_hessian(name):
    f, xs = CASES[name]
    s, z = _scalar_of_point(f, xs)
    if z.size > 64:
        pytest.skip("large input")
    H = np.asarray(cr.hessian(s)(z), dtype=np.float64)
    tol = 2e-3 if z.dtype == np.float32 else 1e-8
    scale = 1.0 + float(np.max(np.abs(H), initial=0.0))
    np.testing.assert_allclose(float(cr.laplacian(s)(z)), np.trace(H), rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(np.asarray(cr.hessian_diag(s)(z), dtype=np.float64), np.diag(H),
                               rtol=tol, atol=tol * scale)
