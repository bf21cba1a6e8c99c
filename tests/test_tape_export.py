"""Writes through NumPy arrays that share a Tensor's memory never corrupt a gradient silently.

Oracle: the hand-derived gradient of the loss on the values the forward pass saw.
"""
import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp


def leaf(v):
    return cr.tensor(v, requires_grad=True)


EXPORTS = {
    "detach().numpy()": lambda t: t.detach().numpy(),
    "np.asarray(detach())": lambda t: np.asarray(t.detach()),
    "view of detach()": lambda t: t.detach()[0:2].numpy(),
    "detach().reshape": lambda t: t.detach().reshape(2, 1).numpy(),
}


@pytest.mark.parametrize("export", EXPORTS.values(), ids=list(EXPORTS))
def test_export_of_a_tensor_that_requires_grad_is_read_only(export):
    w = leaf([1.0, 2.0])
    loss = (cnp.sin(w) * w).sum()
    a = export(w)
    with pytest.raises(ValueError, match="read-only"):
        a[...] = 5.0
    loss.backward()
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(w.grad.numpy(), np.cos(v) * v + np.sin(v), rtol=1e-14)


def test_export_of_an_operation_output_is_read_only():
    w = leaf([1.0, 2.0])
    y = cnp.exp(w)                      # exp's rule reads its output
    with pytest.raises(ValueError, match="read-only"):
        y.detach().numpy()[0] = 0.0
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-14)


def test_constant_saved_by_a_graph_is_exported_read_only():
    w, c = leaf([1.0, 2.0]), cr.tensor([3.0, 4.0])
    loss = (w * c).sum()
    for a in (c.numpy(), np.asarray(c)):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 4.0])


def test_array_exported_before_the_graph_read_it_becomes_read_only():
    w, c = leaf([1.0, 2.0]), cr.tensor([3.0, 4.0])
    early = c.numpy()
    early[1] = 5.0                      # no graph yet: a legitimate write
    loss = (w * c).sum()
    with pytest.raises(ValueError, match="read-only"):
        early[0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [3.0, 5.0])


def test_write_through_the_tensor_is_seen_by_the_version_check():
    w = leaf([1.0, 2.0])
    y = w * 2
    loss = (y * y).sum()
    d = y.detach()
    with cr.no_grad():
        d[0] = 7.0
    with pytest.raises(RuntimeError, match="'multiply': input 0 was modified"):
        loss.backward()


def test_memory_no_graph_read_stays_writeable():
    t = cr.tensor([1.0, 2.0])
    t.numpy()[0] = 9.0
    np.asarray(t)[1] = 8.0
    np.testing.assert_array_equal(t.numpy(), [9.0, 8.0])
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    w.grad.numpy()[0] = 0.0             # a gradient is the user's own array
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 4.0])


def test_copies_are_writeable_and_private():
    w = leaf([1.0, 2.0])
    loss = (w * w).sum()
    for a in (w.detach().numpy().copy(), np.array(w.detach()), np.asarray(w.detach(), dtype=np.float32)):
        a[0] = 50.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])


def test_optimiser_still_updates_parameters_in_place():
    w = leaf([1.0, 2.0])
    opt = cr.optim.SGD([w], lr=0.5)
    (w * w).sum().backward()
    opt.step()
    np.testing.assert_array_equal(w.detach().numpy(), [0.0, 0.0])


def test_requires_grad_off_keeps_earlier_graphs_safe():
    w = leaf([1.0, 2.0])
    loss = (w * w).sum()
    w.requires_grad_(False)
    with pytest.raises(ValueError, match="read-only"):
        w.numpy()[0] = 3.0


def test_a_view_taken_without_recording_is_read_only_too():
    w = leaf([1.0, 2.0, 3.0])
    with cr.no_grad():
        w *= 1.0                        # an optimiser-style update: w's memory gets a version list
    loss = (w * w).sum()
    with cr.no_grad():
        v = w[0:2]
        r = w.reshape(3, 1)
    for a in (v.numpy(), r.numpy(), np.asarray(v)):
        with pytest.raises(ValueError, match="read-only"):
            a[0] = 9.0
    loss.backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0, 6.0])
