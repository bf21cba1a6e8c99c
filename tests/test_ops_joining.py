"""concatenate, stack, hstack, vstack, split: values, derivatives to order 2, errors."""
from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads

from _inputs import normal as _r

COVERED = {"concatenate", "stack", "hstack", "vstack", "split"}


@pytest.mark.parametrize("shapes, axis", [
    ([(3,), (2,)], 0),
    ([(2, 3), (4, 3)], 0),
    ([(2, 3), (2, 1), (2, 2)], 1),
    ([(2, 3), (2, 1)], -1),
    ([(2, 1, 3), (2, 2, 3)], -2),
    ([(2, 3), (3,)], None),
])
def test_concatenate(shapes, axis):
    xs = [_r(s, k) for k, s in enumerate(shapes)]
    np.testing.assert_array_equal(cnp.concatenate(xs, axis=axis), np.concatenate(xs, axis=axis))
    f = lambda *a: cnp.concatenate(a, axis=axis) ** 2
    check_grads(f, xs, order=2, modes=("fwd", "rev"))


def test_concatenate_values_under_tracing():
    xs = [_r((2, 3), 1), _r((2, 2), 2)]
    out = cr.jvp(lambda a, b: cnp.concatenate([a, b], axis=1), tuple(xs), tuple(np.ones_like(x) for x in xs))
    np.testing.assert_array_equal(out[0], np.concatenate(xs, axis=1))
    np.testing.assert_array_equal(out[1], np.ones((2, 5)))


def test_concatenate_tracer_with_plain_array():
    c = np.array([10.0, 20.0])
    x = np.array([1.0, 2.0, 3.0])
    f = lambda v: cnp.concatenate([c, v, c], axis=0) * np.arange(7.0)
    np.testing.assert_array_equal(f(x), np.concatenate([c, x, c]) * np.arange(7.0))
    np.testing.assert_allclose(cr.grad(lambda v: cnp.sum(f(v)))(x), [2.0, 3.0, 4.0])
    check_grads(lambda v: cnp.concatenate([c, v ** 2, c]), (x,), order=2)
    check_grads(lambda v: cnp.concatenate([np.ones((1, 2)), v], axis=0), (_r((3, 2)),), order=2)


def test_concatenate_many_inputs():
    xs = [np.array([float(k)]) for k in range(150)]
    f = lambda *a: cnp.concatenate(a) ** 2
    np.testing.assert_array_equal(f(*[cr.tensor(x) for x in xs]).numpy(), np.concatenate(xs) ** 2)
    g = cr.grad(lambda v: cnp.sum(cnp.concatenate([v] * 150) ** 2))(np.array([1.5]))
    np.testing.assert_allclose(g, [150 * 3.0])


def test_concatenate_tape():
    a = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = cr.tensor(np.array([[3.0], [4.0]]), requires_grad=True)
    out = cnp.concatenate([cnp.reshape(a, (2, 1)), b, np.ones((2, 1))], axis=1)
    cnp.sum(out * out).backward()
    np.testing.assert_allclose(np.asarray(a.grad), [2.0, 4.0])
    np.testing.assert_allclose(np.asarray(b.grad), [[6.0], [8.0]])


@pytest.mark.parametrize("shape, n, axis", [((3,), 2, 0), ((3,), 3, -1), ((2, 3), 2, 1),
                                            ((2, 3), 3, -3), ((2, 3, 2), 2, 2)])
def test_stack(shape, n, axis):
    xs = [_r(shape, k) for k in range(n)]
    np.testing.assert_array_equal(cnp.stack(xs, axis=axis), np.stack(xs, axis=axis))
    check_grads(lambda *a: cnp.stack(a, axis=axis) ** 2, xs, order=2)
    out = cr.jvp(lambda *a: cnp.stack(a, axis=axis), tuple(xs), tuple(xs))
    np.testing.assert_array_equal(out[0], np.stack(xs, axis=axis))


def test_stack_tracer_with_plain_and_tape():
    x = _r((2, 2))
    check_grads(lambda v: cnp.stack([v, np.zeros((2, 2)), v * v], axis=1), (x,), order=2)
    t = cr.tensor(x, requires_grad=True)
    cnp.sum(cnp.stack([t, 2.0 * t])).backward()
    np.testing.assert_allclose(np.asarray(t.grad), np.full((2, 2), 3.0))


@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (2,)], [(2, 3), (2, 1)], [(2, 1, 3), (2, 2, 3)],
                                    [(), (2,)]])
def test_hstack(shapes):
    xs = [_r(s, k) for k, s in enumerate(shapes)]
    np.testing.assert_array_equal(cnp.hstack(xs), np.hstack(xs))
    check_grads(lambda *a: cnp.hstack(a) ** 2, xs, order=2)
    out = cr.jvp(lambda *a: cnp.hstack(a), tuple(xs), tuple(np.ones_like(x) for x in xs))
    np.testing.assert_array_equal(out[0], np.hstack(xs))


@pytest.mark.parametrize("shapes", [[(), ()], [(3,), (3,)], [(3,), (2, 3)], [(2, 3), (1, 3)],
                                    [(1, 2, 2), (2, 2, 2)]])
def test_vstack(shapes):
    xs = [_r(s, k) for k, s in enumerate(shapes)]
    np.testing.assert_array_equal(cnp.vstack(xs), np.vstack(xs))
    check_grads(lambda *a: cnp.vstack(a) ** 2, xs, order=2)
    out = cr.jvp(lambda *a: cnp.vstack(a), tuple(xs), tuple(np.ones_like(x) for x in xs))
    np.testing.assert_array_equal(out[0], np.vstack(xs))


def test_hstack_vstack_with_plain_and_tape():
    t = cr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = cnp.vstack([t, np.array([5.0, 6.0]), cnp.hstack([t[:1], np.array([7.0])])])
    np.testing.assert_array_equal(out.detach().numpy(),
                                  [[1.0, 2.0], [5.0, 6.0], [1.0, 7.0]])
    cnp.sum(out * out).backward()
    np.testing.assert_allclose(np.asarray(t.grad), [4.0, 4.0])


@pytest.mark.parametrize("shape, ios, axis", [
    ((6,), 3, 0), ((6,), [1, 4], 0), ((2, 6), 2, 1), ((4, 3), [1, 1, 3], 0),
    ((2, 4, 3), 2, -2), ((5,), [2, 10], 0), ((3, 4), [-1], 1),
])
def test_split(shape, ios, axis):
    x = _r(shape)
    got = cnp.split(x, ios, axis=axis)
    want = np.split(x, ios, axis=axis)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    for k in range(len(want)):
        if np.size(want[k]):
            check_grads(lambda v, k=k: cnp.split(v, ios, axis=axis)[k] ** 2, (x,), order=2)
    check_grads(lambda v: sum(cnp.sum(p * (j + 1.0)) for j, p in enumerate(cnp.split(v, ios, axis=axis))),
                (x,), order=2)


def test_split_tape():
    t = cr.tensor(np.arange(6.0), requires_grad=True)
    a, b, c = cnp.split(t, 3)
    cnp.sum(a * 1.0 + b * 2.0 + c * c).backward()
    np.testing.assert_allclose(np.asarray(t.grad), [1.0, 1.0, 2.0, 2.0, 8.0, 10.0])


def test_plain_inputs_are_numpy():
    xs = [np.ones((2, 2)), np.zeros((2, 2))]
    assert type(cnp.concatenate(xs)) is np.ndarray
    assert type(cnp.stack(xs)) is np.ndarray
    assert all(type(p) is np.ndarray for p in cnp.split(np.arange(4.0), 2))


def _grad_of(f, x):
    return cr.grad(lambda v: cnp.sum(f(v)))(x)


def test_errors_name_the_function():
    x = _r((2, 3))
    with pytest.raises(ValueError, match="concatenate.*axis 2"):
        _grad_of(lambda v: cnp.concatenate([v, v], axis=2), x)
    with pytest.raises(ValueError, match="concatenate.*must match"):
        _grad_of(lambda v: cnp.concatenate([v, np.ones((3, 3))], axis=1), x)
    with pytest.raises(ValueError, match="concatenate.*same number of dimensions"):
        _grad_of(lambda v: cnp.concatenate([v, np.ones(3)]), x)
    with pytest.raises(ValueError, match="concatenate.*zero-dimensional"):
        _grad_of(lambda v: cnp.concatenate([v[0, 0], v[0, 1]]), x)
    with pytest.raises(ValueError, match="stack.*same shape"):
        _grad_of(lambda v: cnp.stack([v, v[:1]]), x)
    with pytest.raises(ValueError, match="stack.*axis 3"):
        _grad_of(lambda v: cnp.stack([v, v], axis=3), x)
    with pytest.raises(ValueError, match="split.*equal division"):
        _grad_of(lambda v: cnp.split(v, 2, axis=1)[0], x)
    with pytest.raises(ValueError, match="split.*axis 5"):
        _grad_of(lambda v: cnp.split(v, 2, axis=5)[0], x)
    with pytest.raises(ValueError, match="split.*larger than 0"):
        _grad_of(lambda v: cnp.split(v, 0)[0], x)
