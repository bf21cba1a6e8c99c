"""The PyTorch-style tape: ``cr.tensor``, ``Tensor``, ``backward``, ``cr.autograd.grad``,
``cr.no_grad`` and in-place operations (API.md section 3).

Oracles: hand-derived formulas, and the functional API (``cr.grad``) on the same function.
"""
from __future__ import annotations

import operator
import threading

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.testing import check_grads


def leaf(data, dtype=float):
    return cr.tensor(np.asarray(data, dtype=dtype), requires_grad=True)


# -- construction and attributes -------------------------------------------------------------

def test_attributes():
    x = cr.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    assert x.shape == (3, 2) and x.dtype == np.float64 and x.ndim == 2 and x.size == 6
    assert x.T.shape == (2, 3) and len(x) == 3
    assert x.requires_grad and x.grad is None and x.is_leaf and x.grad_fn is None
    s = cr.tensor(2.5)
    assert s.shape == () and s.ndim == 0 and s.size == 1 and not s.requires_grad


def test_tensor_copies_its_data_and_python_floats_are_float64():
    data = np.array([1.0, 2.0])
    t = cr.tensor(data)
    data[0] = 99.0
    assert t.numpy()[0] == 1.0
    assert cr.tensor([1.0, 2.0]).dtype == np.float64
    assert cr.tensor(np.float32(1.0)).dtype == np.float32
    assert cr.tensor([1, 2], dtype=np.float32).dtype == np.float32


def test_numpy_item_detach():
    x = leaf([[1.0, 2.0]])
    y = x * 3
    assert y.requires_grad and not y.is_leaf
    d = y.detach()
    assert isinstance(d, cr.Tensor) and not d.requires_grad and d.grad_fn is None
    assert type(d.numpy()) is np.ndarray
    np.testing.assert_array_equal(d.numpy(), [[3.0, 6.0]])
    assert y[0, 1].item() == 6.0 and type(y[0, 1].item()) is float
    assert float(y[0, 0]) == 3.0
    with pytest.raises(RuntimeError, match="detach"):
        y.numpy()  # would silently drop the gradient, as in PyTorch


def test_detached_tensor_takes_no_part_in_backward():
    x = leaf(2.0)
    y = x * x.detach()  # treated as x * const
    y.backward()
    assert x.grad.item() == 2.0


def test_repr_shows_grad_fn():
    x = leaf([1.0, 2.0])
    assert "requires_grad=True" in repr(x)
    assert "grad_fn=<multiply>" in repr(x * 2)


# -- operators, methods, indexing --------------------------------------------------------------

def test_operators_with_broadcasting_match_cr_grad():
    a_np = np.array([[0.5, 1.0], [1.5, 2.0], [2.5, 3.0]])
    b_np = np.array([[0.2, 0.7]])

    def f(a, b):
        return cnp.sum((a + b) * (a - b) / (b + 1.0) + (a ** b) @ b.T - (-a) ** 2 + 2.0 / a - 1.0 - b)

    a, b = leaf(a_np), leaf(b_np)
    loss = f(a, b)
    loss.backward()
    ga, gb = cr.grad(f, argnums=(0, 1))(a_np, b_np)
    assert a.grad.shape == (3, 2) and b.grad.shape == (1, 2)
    np.testing.assert_allclose(a.grad.numpy(), ga, rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), gb, rtol=1e-12)
    np.testing.assert_allclose(loss.item(), f(a_np, b_np))
    check_grads(f, (a_np, b_np), order=2)


def test_ndarray_on_the_left_returns_a_tensor_and_records():
    a = np.array([3.0, 4.0])
    M = np.array([[1.0, 2.0], [3.0, 4.0]])
    x = leaf([1.0, 2.0])
    results = {"*": a * x, "+": a + x, "-": a - x, "/": a / x, "**": a ** x, "@": M @ x}
    for name, y in results.items():
        assert isinstance(y, cr.Tensor) and y.requires_grad, name
    sum(r.sum() for r in results.values()).backward()
    xv = np.array([1.0, 2.0])
    expected = a + 1 - 1 - a / xv ** 2 + a ** xv * np.log(a) + M.sum(0)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)


def test_numpy_ufuncs_on_tensors_record():
    x = leaf([0.5, 1.0])
    y = np.sin(x) * np.exp(x)
    assert isinstance(y, cr.Tensor)
    y.sum().backward()
    xv = np.array([0.5, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), np.exp(xv) * (np.sin(xv) + np.cos(xv)))


def test_methods():
    xv = np.array([[1.0, 5.0], [3.0, 2.0], [0.5, 4.0]])
    x = leaf(xv)
    total = (x.sum() + x.sum(axis=0).sum() * 2 + x.mean() * 6 + x.max() + x.max(axis=1).sum()
             + (x.reshape(2, 3)[0] * np.array([1.0, 2.0, 3.0])).sum() + x.transpose()[1, 2]
             + x.T[0, 0] + x.reshape((6,))[-1] + x.mean(axis=1, keepdims=True).sum())
    total.backward()
    expected = np.ones((3, 2)) + 2 + 1  # sum, 2 * sum(axis=0), 6 * mean
    expected[0, 1] += 1  # max
    expected[[0, 1, 2], [1, 0, 1]] += 1  # max along axis 1
    expected.flat[:3] += [1.0, 2.0, 3.0]  # reshape(2, 3)[0]
    expected[2, 1] += 1  # transpose()[1, 2]
    expected[0, 0] += 1  # T[0, 0]
    expected[2, 1] += 1  # reshape(6)[-1]
    expected += 0.5  # mean(axis=1) summed
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_indexing_records_and_scatters_back():
    x = leaf(np.arange(12.0).reshape(4, 3))
    y = x[1:3, ::-1].sum() + x[np.array([0, 0, 3]), 1].sum() + x[x > 9.5].sum() + x[..., None][-1, 0, 0]
    y.backward()
    expected = np.zeros((4, 3))
    expected[1:3, :] += 1
    expected[0, 1] += 2
    expected[3, 1] += 1
    expected[3, 1:] += 1  # 10 and 11 are > 9.5
    expected[3, 0] += 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)


# -- backward -------------------------------------------------------------------------------------

def test_grad_is_a_tensor_and_accumulates_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    assert isinstance(x.grad, cr.Tensor)
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 6.0])
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_fan_out_sums_contributions():
    x = leaf(2.0)
    y = x * x + cnp.sin(x) * x + x
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 2 * 2 + np.sin(2) + 2 * np.cos(2) + 1)


def test_diamond_graph_and_shared_intermediates():
    x = leaf([0.3, 0.7])
    h = cnp.tanh(x)
    y = (h * h + h.exp() + h).sum()
    y.backward()
    hv = np.tanh([0.3, 0.7])
    np.testing.assert_allclose(x.grad.numpy(), (2 * hv + np.exp(hv) + 1) * (1 - hv ** 2))


def test_backward_of_a_leaf():
    x = leaf(3.0)
    x.backward()
    assert x.grad.item() == 1.0


def test_non_scalar_backward_with_grad():
    x = leaf([1.0, 2.0, 3.0])
    y = x ** 2
    y.backward(cr.tensor([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 12.0])
    z = leaf([1.0, 2.0])
    (z * 3).backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(z.grad.numpy(), [3.0, -3.0])


def test_retain_graph_allows_a_second_backward():
    x = leaf(2.0)
    y = x ** 3
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 24.0


def test_second_backward_without_retain_graph_says_what_to_do():
    x = leaf(2.0)
    y = cnp.exp(x) * x
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        y.backward()


def test_create_graph_gives_the_second_derivative():
    x = leaf(3.0)
    (x ** 3).backward(create_graph=True)
    g = x.grad
    assert g.item() == 27.0 and g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == 18.0


def test_create_graph_on_a_vector_function():
    xv = np.array([0.5, -1.0])
    x = leaf(xv)
    (cnp.sin(x) * x).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    (g * g).sum().backward()
    d1 = np.cos(xv) * xv + np.sin(xv)
    d2 = -np.sin(xv) * xv + 2 * np.cos(xv)
    np.testing.assert_allclose(x.grad.numpy(), 2 * d1 * d2)


def test_leaves_that_do_not_require_grad_get_no_grad():
    x, c = leaf(2.0), cr.tensor(5.0)
    (x * c).backward()
    assert x.grad.item() == 5.0 and c.grad is None


def test_backward_through_ops_without_requires_grad_is_an_error():
    with pytest.raises(RuntimeError):
        (cr.tensor(2.0) * 3).backward()


# -- cr.autograd.grad -------------------------------------------------------------------------

def test_autograd_grad_does_not_touch_dot_grad():
    x = leaf([1.0, 2.0])
    (g,) = cr.autograd.grad((x ** 3).sum(), x)
    assert isinstance(g, cr.Tensor)
    np.testing.assert_array_equal(g.numpy(), [3.0, 12.0])
    assert x.grad is None


def test_autograd_grad_with_grad_outputs_for_a_non_scalar_output():
    x = leaf([1.0, 2.0])
    (g,) = cr.autograd.grad(x ** 2, x, grad_outputs=cr.tensor([1.0, 3.0]))
    np.testing.assert_array_equal(g.numpy(), [2.0, 12.0])
    x2 = leaf([1.0, 2.0])
    (g,) = cr.autograd.grad([x2 ** 2], [x2], grad_outputs=[np.array([1.0, 3.0])])
    np.testing.assert_array_equal(g.numpy(), [2.0, 12.0])


def test_autograd_grad_for_several_inputs_including_non_leaves():
    x = leaf([1.0, 2.0])
    h = x * 3
    y = (h ** 2).sum()
    gh, gx = cr.autograd.grad(y, [h, x])
    np.testing.assert_array_equal(gh.numpy(), [6.0, 12.0])
    np.testing.assert_array_equal(gx.numpy(), [18.0, 36.0])


def test_autograd_grad_allow_unused():
    x, z = leaf([1.0, 2.0]), leaf(1.0)
    y = (x ** 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        cr.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = cr.autograd.grad(y, [x, z], allow_unused=True)
    np.testing.assert_array_equal(gx.numpy(), [2.0, 4.0])
    assert gz is None


def test_autograd_grad_create_graph_hessian_vector_product():
    xv = np.array([1.0, 2.0])
    x = leaf(xv)
    y = (x ** 3).sum() + x[0] * x[1]
    (g,) = cr.autograd.grad(y, x, create_graph=True)
    v = np.array([1.0, -1.0])
    (hvp,) = cr.autograd.grad((g * v).sum(), x)
    H = np.array([[6 * xv[0], 1.0], [1.0, 6 * xv[1]]])
    np.testing.assert_allclose(hvp.numpy(), H @ v)
    assert x.grad is None


def test_autograd_grad_frees_the_graph_unless_retained():
    x = leaf(2.0)
    y = x * x * x
    cr.autograd.grad(y, x, retain_graph=True)
    (g,) = cr.autograd.grad(y, x)
    assert g.item() == 12.0
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        cr.autograd.grad(y, x)


# -- no_grad --------------------------------------------------------------------------------

def test_no_grad_records_nothing():
    x = leaf(2.0)
    assert cr.is_grad_enabled()
    with cr.no_grad():
        assert not cr.is_grad_enabled()
        y = x * 3 + cnp.exp(x)
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_allclose(y.item(), 6 + np.exp(2))
    z = x * 3  # recording again after the block
    assert z.requires_grad


def test_no_grad_as_a_decorator():
    @cr.no_grad()
    def f(x):
        return x * 2

    x = leaf(1.0)
    assert not f(x).requires_grad
    assert cr.is_grad_enabled()


def test_no_grad_restores_on_exceptions():
    with pytest.raises(ZeroDivisionError):
        with cr.no_grad():
            1 / 0
    assert cr.is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf(1.0)
    with cr.no_grad():
        with cr.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad


def test_no_grad_is_per_thread():
    x = leaf(2.0)
    seen = {}
    in_block = threading.Event()
    other_done = threading.Event()

    def other_thread():
        in_block.wait(5)
        seen["enabled"] = cr.is_grad_enabled()
        y = x * 3
        seen["requires_grad"] = y.requires_grad
        other_done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with cr.no_grad():
        in_block.set()
        other_done.wait(5)
        mine = x * 3
    t.join()
    assert seen == {"enabled": True, "requires_grad": True}
    assert not mine.requires_grad


def test_functional_transforms_still_work_inside_no_grad():
    with cr.no_grad():
        assert cr.grad(lambda x: x ** 3)(2.0) == 12.0


# -- in-place operations -------------------------------------------------------------------------

IN_PLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv}


def test_in_place_on_a_leaf_that_requires_grad_raises():
    x = leaf([1.0, 2.0])
    for op in IN_PLACE.values():
        with pytest.raises(RuntimeError, match="no_grad"):
            op(x, 1.0)
    with pytest.raises(RuntimeError, match="no_grad"):
        x[0] = 5.0
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 2.0])


def test_sgd_update_under_no_grad_changes_the_leaf_in_place():
    w = leaf([1.0, 2.0])
    memory = w.detach().numpy()
    ref = w
    (w * w).sum().backward()
    with cr.no_grad():
        w -= 0.1 * w.grad
    assert w is ref and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.detach().numpy(), [0.8, 1.6])
    np.testing.assert_allclose(memory, [0.8, 1.6])  # the same memory
    w.grad = None
    (w * w).sum().backward()  # and it is still a working leaf
    np.testing.assert_allclose(w.grad.numpy(), [1.6, 3.2])


def test_in_place_on_a_plain_tensor_is_fine():
    t = cr.tensor([1.0, 2.0])
    t += 1
    t *= 2
    t[0] = 0.0
    np.testing.assert_array_equal(t.numpy(), [0.0, 6.0])


def test_in_place_on_an_input_saved_by_an_operation_raises_at_backward_naming_it():
    # A recorded in-place op keeps a copy of the version it replaced (see the test below);
    # an unrecorded one really changes the value multiply saved.
    x = leaf([1.0, 2.0])
    a = x * 2
    b = a * a  # multiply saves a
    with cr.no_grad():
        a += 1
    with pytest.raises(RuntimeError, match="multiply"):
        b.sum().backward()


def test_in_place_on_an_output_saved_by_an_operation_raises_at_backward_naming_it():
    # exp's rule reads its output; change that output through a view (unrecorded, under
    # no_grad: a recorded write to a view raises at once)
    x = leaf([1.0, 2.0])
    y = x.exp()
    v = y[:]
    with cr.no_grad():
        v += 1
    with pytest.raises(RuntimeError, match="exp"):
        y.sum().backward()


def test_in_place_on_the_saved_output_never_gives_a_wrong_gradient():
    xv = np.array([1.0, 2.0])
    x = leaf(xv)
    y = x.exp()
    y += 1
    try:
        (y * 1.0).sum().backward()
    except RuntimeError as e:
        assert "exp" in str(e)
    else:
        np.testing.assert_allclose(x.grad.numpy(), np.exp(xv))


def test_in_place_after_another_use_never_gives_a_wrong_gradient():
    # z was computed from the old y; its gradient must reach x through exp, not through y's
    # new history (chainrule raises, naming the operation that recorded the old y)
    xv = np.array([1.0, 2.0])
    x = leaf(xv)
    y = x.exp()
    z = y * 1.5
    y += 1
    try:
        z.sum().backward()
    except RuntimeError as e:
        assert "multiply" in str(e)
    else:
        np.testing.assert_allclose(x.grad.numpy(), 1.5 * np.exp(xv))


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_legitimate_in_place_on_a_non_leaf_differentiates(op):
    xv = np.array([1.0, 2.0])
    x = leaf(xv)
    h = x * 2
    memory = h.detach().numpy()
    assert IN_PLACE[op](h, 3.0) is h
    assert h.requires_grad and not h.is_leaf
    np.testing.assert_allclose(memory, h.detach().numpy())  # written in place
    (h * h).sum().backward()
    hv = {"+=": 2 * xv + 3, "-=": 2 * xv - 3, "*=": 6 * xv, "/=": 2 * xv / 3}[op]
    dh = {"+=": 2.0, "-=": 2.0, "*=": 6.0, "/=": 2 / 3}[op]
    np.testing.assert_allclose(h.detach().numpy(), hv)
    np.testing.assert_allclose(x.grad.numpy(), 2 * hv * dh)


def test_in_place_with_a_tensor_operand():
    x, c = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    h = x * 1.0
    h *= c
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(c.grad.numpy(), [1.0, 2.0])


@pytest.mark.parametrize("op,expected", [("+=", [4.0, 4.0]), ("*=", [8.0, 16.0])])
def test_in_place_with_itself_as_operand(op, expected):
    x = leaf([1.0, 2.0])
    h = x * 2
    h = IN_PLACE[op](h, h)
    h.sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), expected)


def _setitem_from_itself_element(h, v):
    h[0] = h[1]


def _setitem_from_itself_slice(h, v):
    h[1:] = h[1:] + v


@pytest.mark.parametrize("update,expected_x,expected_v", [
    (_setitem_from_itself_element, [0.0, 4.0], 0.0),  # h = [2 x1, 2 x1]
    (_setitem_from_itself_slice, [2.0, 2.0], 1.0),  # h = [2 x0, 2 x1 + v]
], ids=["h[0] = h[1]", "h[1:] = h[1:] + v"])
def test_setitem_from_the_same_tensor(update, expected_x, expected_v):
    # The right-hand side was recorded from the old h: backward uses that version of h.
    x, v = leaf([1.0, 2.0]), leaf(0.5)
    h = x * 2
    update(h, v)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected_x)
    np.testing.assert_allclose(0.0 if v.grad is None else v.grad.item(), expected_v)


def test_recurrence_written_in_place_matches_the_out_of_place_gradient():
    # h[i] = h[i-1] * h[i]: each step reads versions of h that later steps overwrite
    xv = np.array([1.0, 2.0, 3.0, 0.5])

    def in_place(x):
        h = x * 1.0
        for i in range(1, 4):
            h[i] = h[i - 1] * h[i]
        return (h * h).sum()

    x = leaf(xv)
    in_place(x).backward()
    c = np.cumprod(xv)  # h = cumulative products; d/dx_j sum_i c_i^2 = sum_{i>=j} 2 c_i^2 / x_j
    expected = np.array([sum(2 * c[i] ** 2 / xv[j] for i in range(j, 4)) for j in range(4)])
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_in_place_after_a_saved_use_differentiates_the_version_that_was_used():
    x = leaf([1.0, 2.0])
    a = x * 2
    b = (a * a).sum()  # multiply saved the old a
    a += 1
    b.backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])  # d/dx (2x)^2


def test_recorded_in_place_through_a_view_raises():
    # Writing through a view would change h's memory without giving h history.
    x = leaf([1.0, 2.0])
    h = x * 1.0
    v = h[0:1]
    with pytest.raises(RuntimeError, match="view"):
        v *= 3
    np.testing.assert_array_equal(h.detach().numpy(), [1.0, 2.0])  # nothing was written


def test_setitem_records_and_differentiates_in_both_operands():
    xv = np.array([1.0, 2.0, 3.0])
    x, v = leaf(xv), leaf(5.0)
    t = x * 1.0
    t[1] = v * 2
    np.testing.assert_array_equal(t.detach().numpy(), [1.0, 10.0, 3.0])
    (t * t).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 6.0])
    assert v.grad.item() == 40.0


def test_setitem_with_slice_mask_and_broadcast_value():
    x, v = leaf([1.0, -2.0, 3.0, -4.0]), leaf(0.5)
    t = x * 2.0
    t[t < 0] = 0.0  # relu, by mask assignment
    t[2:] = x[2:] * 2.0 + v  # broadcast scalar into a slice
    (t * t).sum().backward()
    tv = np.array([2.0, 0.0, 6.5, -7.5])
    np.testing.assert_allclose(t.detach().numpy(), tv)
    np.testing.assert_allclose(x.grad.numpy(), [2 * tv[0] * 2, 0.0, 2 * tv[2] * 2, 2 * tv[3] * 2])
    np.testing.assert_allclose(v.grad.item(), 2 * tv[2] + 2 * tv[3])


def test_setitem_into_a_plain_tensor_makes_it_record():
    v = leaf([5.0, 6.0])
    t = cr.tensor(np.zeros(3))
    t[1:] = v
    assert t.requires_grad
    (t * t).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [10.0, 12.0])


def test_in_place_changing_the_shape_is_an_error():
    t = cr.tensor([1.0, 2.0])
    with pytest.raises(ValueError):
        t += np.ones((3, 2))


# -- aliasing of results ---------------------------------------------------------------------

def test_gradients_of_two_leaves_do_not_share_memory():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    gx = x.grad.numpy()
    gx[0] = 100.0
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_grad_does_not_alias_the_seed():
    x = leaf([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    (x + 0.0).backward(seed)
    x.grad.numpy()[0] = 99.0
    np.testing.assert_array_equal(seed, [1.0, 1.0])
