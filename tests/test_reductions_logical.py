"""cnp.any / cnp.all (NumPy's, on traced values too) and concatenate's cotangents for many inputs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
import chainrule.numpy as cnp


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
                  elements=st.sampled_from([0.0, 1.0, -2.5])), st.booleans(), st.data())
def test_any_all_match_numpy_on_traced_values(x, keepdims, data):
    axis = data.draw(st.sampled_from([None] + list(range(-x.ndim, x.ndim))))
    for name in ("any", "all"):
        want = getattr(np, name)(x, axis=axis, keepdims=keepdims)
        f = lambda a: getattr(cnp, name)(a, axis=axis, keepdims=keepdims)
        for g in (f, cr.jit(f)):
            got = g(x)
            np.testing.assert_array_equal(got, want)
            assert np.asarray(got).dtype == np.bool_
        # under a differentiation tracer: the value is the same, and it carries no derivative
        g = cr.grad(lambda a: cnp.sum(a) * cnp.sum(f(a)))(x)
        np.testing.assert_array_equal(g, np.full(x.shape, np.sum(want), float))


def test_any_all_refuse_out_and_where_on_traced_values():
    with pytest.raises(TypeError, match="any: out= and where= are not supported on a traced value"):
        cr.jit(lambda a: cnp.any(a, where=a > 0))(np.ones(3))


def test_concatenate_many_inputs_gives_each_its_slice():
    """Every input of a 300-way stack/concatenate gets its own slice of the cotangent (the
    offsets are computed once per node now, not once per input)."""
    rng = np.random.default_rng(0)
    parts = [rng.normal(size=(k % 4 + 1, 2)) for k in range(300)]
    weights = rng.normal(size=(sum(p.shape[0] for p in parts), 2))
    grads = cr.grad(lambda *ps: cnp.sum(cnp.concatenate(ps) * weights), argnums=tuple(range(300)))(*parts)
    for got, want in zip(grads, np.split(weights, np.cumsum([p.shape[0] for p in parts])[:-1])):
        np.testing.assert_array_equal(got, want)
    scalars = list(rng.normal(size=300))
    g = cr.grad(lambda *s: cnp.sum(cnp.stack(s) * np.arange(300.0)), argnums=tuple(range(300)))(*scalars)
    np.testing.assert_array_equal(g, np.arange(300.0))
