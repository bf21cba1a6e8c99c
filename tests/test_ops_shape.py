"""Shape functions ``ravel moveaxis expand_dims squeeze flip roll tile repeat triu tril``:
values against NumPy, derivatives against finite differences in both modes to order 2,
tape Tensors, and errors that name the function."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

COVERED = {"ravel", "moveaxis", "expand_dims", "squeeze", "flip", "roll", "tile", "repeat",
           "triu", "tril"}


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


#: name -> (chainrule function, NumPy function, input shape); the same call on both
CASES = {
    "ravel 2d": (cnp.ravel, np.ravel, (2, 3)),
    "ravel 3d": (cnp.ravel, np.ravel, (2, 1, 3)),
    "ravel F": (lambda a: cnp.ravel(a, order="F"), lambda a: np.ravel(a, order="F"), (2, 3)),
    "moveaxis 0->-1": (lambda a: cnp.moveaxis(a, 0, -1), lambda a: np.moveaxis(a, 0, -1), (2, 3, 4)),
    "moveaxis tuple": (lambda a: cnp.moveaxis(a, (0, 1), (-1, 0)),
                       lambda a: np.moveaxis(a, (0, 1), (-1, 0)), (2, 3, 4)),
    "moveaxis -1->1": (lambda a: cnp.moveaxis(a, -1, 1), lambda a: np.moveaxis(a, -1, 1), (2, 3, 4)),
    "expand_dims 0": (lambda a: cnp.expand_dims(a, 0), lambda a: np.expand_dims(a, 0), (2, 3)),
    "expand_dims -1": (lambda a: cnp.expand_dims(a, -1), lambda a: np.expand_dims(a, -1), (3,)),
    "expand_dims tuple": (lambda a: cnp.expand_dims(a, (0, -1, 2)),
                          lambda a: np.expand_dims(a, (0, -1, 2)), (2, 3)),
    "squeeze all": (cnp.squeeze, np.squeeze, (1, 2, 1, 3)),
    "squeeze -2": (lambda a: cnp.squeeze(a, -2), lambda a: np.squeeze(a, -2), (1, 2, 1, 3)),
    "squeeze tuple": (lambda a: cnp.squeeze(a, (0, 2)), lambda a: np.squeeze(a, (0, 2)), (1, 2, 1, 3)),
    "squeeze to 0-d": (cnp.squeeze, np.squeeze, (1, 1)),
    "flip all": (cnp.flip, np.flip, (2, 3)),
    "flip -1": (lambda a: cnp.flip(a, -1), lambda a: np.flip(a, -1), (2, 3, 2)),
    "flip tuple": (lambda a: cnp.flip(a, (0, 2)), lambda a: np.flip(a, (0, 2)), (2, 3, 2)),
    "roll 1d": (lambda a: cnp.roll(a, 2), lambda a: np.roll(a, 2), (5,)),
    "roll None 2d": (lambda a: cnp.roll(a, -4), lambda a: np.roll(a, -4), (2, 3)),
    "roll axis -1": (lambda a: cnp.roll(a, 1, axis=-1), lambda a: np.roll(a, 1, axis=-1), (2, 3)),
    "roll tuple": (lambda a: cnp.roll(a, (1, -2), axis=(0, 2)),
                   lambda a: np.roll(a, (1, -2), axis=(0, 2)), (2, 3, 4)),
    "roll same axis twice": (lambda a: cnp.roll(a, (1, 3), axis=(1, 1)),
                             lambda a: np.roll(a, (1, 3), axis=(1, 1)), (2, 3)),
    "roll shift broadcast": (lambda a: cnp.roll(a, 1, axis=(0, 1)),
                             lambda a: np.roll(a, 1, axis=(0, 1)), (2, 3)),
    "tile int": (lambda a: cnp.tile(a, 3), lambda a: np.tile(a, 3), (2,)),
    "tile 2d": (lambda a: cnp.tile(a, (2, 3)), lambda a: np.tile(a, (2, 3)), (2, 3)),
    "tile more reps": (lambda a: cnp.tile(a, (2, 1, 2)), lambda a: np.tile(a, (2, 1, 2)), (2, 3)),
    "tile fewer reps": (lambda a: cnp.tile(a, 2), lambda a: np.tile(a, 2), (2, 3)),
    "repeat None": (lambda a: cnp.repeat(a, 2), lambda a: np.repeat(a, 2), (2, 3)),
    "repeat axis": (lambda a: cnp.repeat(a, 3, axis=1), lambda a: np.repeat(a, 3, axis=1), (2, 3)),
    "repeat array": (lambda a: cnp.repeat(a, [2, 0, 1], axis=-1),
                     lambda a: np.repeat(a, [2, 0, 1], axis=-1), (2, 3)),
    "repeat array None": (lambda a: cnp.repeat(a, np.array([1, 2, 0, 3])),
                          lambda a: np.repeat(a, np.array([1, 2, 0, 3])), (2, 2)),
    "repeat [n]": (lambda a: cnp.repeat(a, [2], axis=0), lambda a: np.repeat(a, [2], axis=0), (2, 3)),
    "triu": (cnp.triu, np.triu, (3, 3)),
    "triu k=1": (lambda a: cnp.triu(a, 1), lambda a: np.triu(a, 1), (3, 4)),
    "triu batched k=-1": (lambda a: cnp.triu(a, -1), lambda a: np.triu(a, -1), (2, 3, 3)),
    "triu 1d": (cnp.triu, np.triu, (3,)),
    "tril": (cnp.tril, np.tril, (3, 3)),
    "tril k=-1": (lambda a: cnp.tril(a, -1), lambda a: np.tril(a, -1), (4, 3)),
    "tril batched k=1": (lambda a: cnp.tril(a, 1), lambda a: np.tril(a, 1), (2, 3, 3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_values_match_numpy(name):
    f, np_f, shape = CASES[name]
    x = _x(shape)
    expected = np_f(x)
    np.testing.assert_array_equal(f(x), expected)  # plain arrays: the fast path
    # and through a tracer (the derivative of a linear function is itself)
    y, t = cr.jvp(f, (x,), (x,))
    np.testing.assert_array_equal(np.asarray(y), expected)
    np.testing.assert_array_equal(np.asarray(t), expected)


@pytest.mark.parametrize("name", list(CASES))
def test_grads(name):
    f, _, shape = CASES[name]
    w = _x(np.shape(CASES[name][1](_x(shape))), 7)
    # a nonlinear scalar function of the output exercises every derivative order
    check_grads(lambda a: cnp.sum(cnp.sin(f(a)) * w), (_x(shape),), order=2, modes=("fwd", "rev"))
    check_grads(f, (_x(shape),), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", list(CASES))
def test_tape(name):
    f, np_f, shape = CASES[name]
    x = _x(shape)
    t = cr.tensor(x, requires_grad=True)
    out = f(t)
    np.testing.assert_array_equal(np.asarray(out.detach().numpy() if hasattr(out, "detach") else out),
                                  np_f(x))
    cr_sum = cnp.sum(out * out)
    cr_sum.backward()
    expected = cr.grad(lambda a: cnp.sum(f(a) * f(a)))(x)
    np.testing.assert_allclose(np.asarray(t.grad), expected, rtol=1e-12, atol=1e-12)


def test_float32_preserved():
    x = _x((2, 3)).astype(np.float32)
    for f in (cnp.ravel, cnp.flip, cnp.triu, lambda a: cnp.tile(a, 2), lambda a: cnp.repeat(a, [1, 2, 0], 1),
              lambda a: cnp.roll(a, 1)):
        g = cr.grad(lambda a: cnp.sum(f(a)))(x)
        assert g.dtype == np.float32 and g.shape == x.shape


def test_repeat_zero_everywhere():
    x = _x((2, 3))
    assert cnp.repeat(x, 0, axis=1).shape == (2, 0)
    np.testing.assert_array_equal(cr.grad(lambda a: cnp.sum(cnp.repeat(a, 0, axis=1)))(x), np.zeros_like(x))


@pytest.mark.parametrize("call", [
    lambda a: cnp.moveaxis(a, 3, 0),
    lambda a: cnp.moveaxis(a, 0, -4),
    lambda a: cnp.expand_dims(a, 3),
    lambda a: cnp.expand_dims(a, (0, 4)),
    lambda a: cnp.squeeze(a, 2),
    lambda a: cnp.flip(a, -3),
    lambda a: cnp.flip(a, (0, 2)),
    lambda a: cnp.roll(a, 1, axis=2),
    lambda a: cnp.repeat(a, 2, axis=-3),
], ids=["moveaxis src", "moveaxis dst", "expand_dims", "expand_dims tuple", "squeeze", "flip",
        "flip tuple", "roll", "repeat"])
@pytest.mark.parametrize("through", ["array", "grad", "tape"])
def test_invalid_axis_names_the_function(call, through):
    x = _x((2, 3))
    name = call.__code__.co_names[-1]
    with pytest.raises(np.exceptions.AxisError, match=name):
        if through == "array":
            call(x)
        elif through == "grad":
            cr.grad(lambda a: cnp.sum(call(a)))(x)
        else:
            call(cr.tensor(x, requires_grad=True))


@pytest.mark.parametrize("call,match", [
    (lambda a: cnp.squeeze(a, 1), "squeeze"),
    (lambda a: cnp.moveaxis(a, (0, 1), 0), "moveaxis"),
    (lambda a: cnp.expand_dims(a, (0, 0)), "expand_dims"),
    (lambda a: cnp.repeat(a, [1, 2], axis=1), "repeat"),
    (lambda a: cnp.repeat(a, -1), "repeat"),
    (lambda a: cnp.tile(a, (-1,)), "tile"),
    (lambda a: cnp.roll(a, (1, 2, 3), axis=(0, 1)), "roll"),
], ids=["squeeze size", "moveaxis lengths", "expand_dims repeated", "repeat length",
        "repeat negative", "tile negative", "roll broadcast"])
def test_other_errors_name_the_function(call, match):
    x = _x((2, 3))
    with pytest.raises(ValueError, match=match):
        cr.grad(lambda a: cnp.sum(call(a)))(x)
