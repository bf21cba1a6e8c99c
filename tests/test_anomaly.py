"""cr.detect_anomaly: the first operation that makes a NaN (or inf) is named, with the user's line.

Oracles: the line numbers are found by searching this file's text for a marker
comment (independent of how chainrule walks the stack); that the value really
is NaN is checked by running the same code with the mode off; the steps'
numbers are derived by hand (sqrt'(0) = 1/(2·sqrt(0)) = inf, 0 · inf = nan).
"""
from __future__ import annotations

import pathlib
import threading
import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import anomaly
from chainrule._interpreters import reverse
from chainrule._interpreters.batching import BatchTracer
from chainrule._interpreters.jvp import JVPTracer
from chainrule._interpreters.reverse import Tensor

HERE = pathlib.Path(__file__).read_text().splitlines()


def line(marker):
    """The line number of this file's one line ending in ``# <marker>``."""
    hits = [i for i, text in enumerate(HERE, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def at(marker):
    return f"test_anomaly.py:{line(marker)}"


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():  # NumPy's own "invalid value" warnings
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
    assert not anomaly.is_anomaly_enabled()  # every test leaves the mode off


def raised(fn, **kw):
    with pytest.raises(FloatingPointError) as e, cr.detect_anomaly(**kw):
        fn()
    return str(e.value)


# -- forward -------------------------------------------------------------------------

def log_of(x):
    return cnp.sum(cnp.log(x))  # log-call


def zero_times_inf(x):
    m = cnp.log(x * 0.0)  # -inf: not a NaN, so not an anomaly (check_inf=False)
    return x * m  # mul-call


def test_forward_nan_names_log_and_the_line():
    assert np.isnan(cr.value_and_grad(log_of)(-1.0)[0])  # the oracle: the value really is NaN
    msg = raised(lambda: cr.grad(log_of)(-1.0))
    assert "log made nan from inputs free of NaN (forward pass)" in msg
    assert at("log-call") in msg and "in log_of" in msg
    assert "return cnp.sum(cnp.log(x))" in msg  # the user's code line
    assert "step: y = log(x) = log(-1) = nan" in msg


def test_forward_nan_from_zero_times_inf_names_multiply():
    assert np.isnan(cr.value_and_grad(zero_times_inf)(0.0)[0])
    msg = raised(lambda: cr.grad(zero_times_inf)(0.0))
    assert msg.startswith("detect_anomaly: multiply made nan")
    assert at("mul-call") in msg
    assert "z = x · y = 0 · (-inf) = nan" in msg


def test_forward_array_names_the_first_bad_element():
    x = np.array([1.0, 2.0, -3.0, -1.0])
    msg = raised(lambda: cr.grad(log_of)(x))
    assert "log(-3) = nan" in msg and "index (2,)" in msg


def test_nan_already_in_the_input_is_not_blamed():
    for x in (np.nan, np.array([1.0, np.nan])):
        with cr.detect_anomaly():
            g = cr.grad(log_of)(x)
        assert np.isnan(g).any()  # passed on, not made: no error


def test_forward_on_the_tape_without_grad():
    t = cr.tensor([1.0, -2.0])
    msg = raised(lambda: cnp.sqrt(t))  # tape-sqrt
    assert "sqrt made nan" in msg and at("tape-sqrt") in msg and "sqrt(-2) = nan" in msg


# -- inf: only with check_inf=True ---------------------------------------------------

def test_inf_is_legitimate_unless_check_inf():
    t = cr.tensor([0.0, 1.0])
    with cr.detect_anomaly():
        assert cnp.log(t)._value[0] == -np.inf  # a mask: no anomaly
    msg = raised(lambda: cnp.log(t), check_inf=True)  # inf-log
    assert "log made inf from inputs free of NaN and inf" in msg and at("inf-log") in msg
    assert "log(0) = -inf" in msg


def test_a_minus_inf_mask_in_the_data_passes():
    x = np.array([2.0, -np.inf, 0.5])
    want = np.exp(x - np.log(np.sum(np.exp(x))))  # softmax: the gradient of logsumexp
    for kw in ({}, {"check_inf": True}):  # the inf comes in with the data: never blamed
        with cr.detect_anomaly(**kw):
            g = cr.grad(cnp.special.logsumexp)(x)
        np.testing.assert_allclose(g, want, rtol=1e-12)


# -- backward ------------------------------------------------------------------------

def sqrt_times_zero(x):
    y = cnp.sqrt(x)  # sqrt-call
    return cnp.sum(y * 0.0)


def norm(x):
    return cnp.sqrt(cnp.sum(x ** 2))  # norm-call


def test_backward_nan_from_sqrt_at_zero_names_sqrt_and_its_line():
    assert np.isnan(cr.grad(sqrt_times_zero)(0.0))  # 0 · sqrt'(0) = 0 · inf
    msg = raised(lambda: cr.grad(sqrt_times_zero)(0.0))
    assert msg.startswith("detect_anomaly: the backward pass made nan: the VJP rule of sqrt")
    assert at("sqrt-call") in msg and "y = cnp.sqrt(x)" in msg
    # the step as cr.explain writes it, with the numbers: adjoint 0 × local derivative inf
    assert "step: x̄ += ȳ · ∂y/∂x = 0 · 1/(2·sqrt(x)) = nan" in msg
    assert "where y = sqrt(x) = sqrt(0) = 0" in msg
    assert "local derivative ∂y/∂x = inf, downstream adjoint ȳ = 0" in msg
    assert "path from the output: sum (" in msg and "→ multiply (" in msg and msg.endswith(
        f"→ sqrt ({at('sqrt-call')})")


def test_the_steps_formula_is_explains():
    """The step is written by explain's own edge formula: the same text for the same edge."""
    ex = cr.explain(lambda x: cnp.sqrt(x), 4.0)
    step = next(s.formula for s in ex.steps if s.phase == "backward")
    assert step.startswith("x̄ += f̄ · ∂f/∂x = 1 · 1/(2·sqrt(x))")
    msg = raised(lambda: cr.grad(sqrt_times_zero)(0.0))
    assert "x̄ += ȳ · ∂y/∂x = 0 · 1/(2·sqrt(x))" in msg


def test_backward_array_names_the_element():
    msg = raised(lambda: cr.grad(sqrt_times_zero)(np.array([4.0, 0.0])))
    assert "index (1,)" in msg and "= 0 · 1/(2·sqrt(x)) = nan" in msg


def test_nan_mode_blames_the_nan_and_traces_the_inf_back():
    """‖x‖ at 0: sqrt's rule sends inf (legitimate in NaN mode), power's rule makes inf · 0 = nan."""
    assert np.isnan(cr.grad(norm)(np.zeros(2))).all()
    msg = raised(lambda: cr.grad(norm)(np.zeros(2)))
    assert "the VJP rule of power" in msg and at("norm-call") in msg
    assert "inf · 2·x = nan" in msg
    assert "was already infinite: the VJP rule of sqrt" in msg and "check_inf=True" in msg
    msg = raised(lambda: cr.grad(norm)(np.zeros(2)), check_inf=True)
    assert "the backward pass made inf: the VJP rule of sqrt" in msg
    assert "1 · 1/(2·sqrt(x)) = inf" in msg


def test_inf_plus_minus_inf_in_the_adjoint_sum():
    f = lambda x: cnp.sqrt(x) - cnp.sqrt(x)  # noqa: E731  x̄ = inf + (-inf)
    assert np.isnan(cr.grad(f)(0.0))
    msg = raised(lambda: cr.grad(f)(0.0))
    assert "summing the contributions to the adjoint" in msg and "inf + (-inf)" in msg


def test_tape_backward_and_autograd_grad():
    def run(how):
        x = cr.tensor([0.0, 4.0], requires_grad=True)
        y = cnp.where(x > 0, cnp.sqrt(x), 0.0)  # where-trap
        loss = y.sum()
        if how == "backward":
            loss.backward()
        else:
            cr.autograd.grad(loss, x)
        return x.grad

    assert np.isnan(run("backward")._value[0])
    for how in ("backward", "autograd.grad"):
        msg = raised(lambda: run(how))
        assert "the VJP rule of sqrt" in msg and at("where-trap") in msg
        assert "path from the output: sum" in msg and "→ where" in msg


def test_line_unknown_when_the_forward_ran_outside():
    x = cr.tensor(0.0, requires_grad=True)
    y = cnp.sqrt(x) * 0.0
    msg = raised(lambda: y.backward())
    assert "the VJP rule of sqrt" in msg and "where it was called is unknown" in msg


def test_vjp_and_grad_of_grad():
    msg = raised(lambda: cr.vjp(lambda x: cnp.sqrt(x), np.zeros(2))[1](np.zeros(2)))
    assert "the VJP rule of sqrt" in msg
    f = lambda x: cnp.sum(x ** 3 * cnp.sqrt(x))  # noqa: E731  f'' has 0 · inf at 0
    msg = raised(lambda: cr.grad(lambda x: cr.grad(f)(x))(0.0))
    assert "made nan" in msg


# -- forward mode and vmap -------------------------------------------------------------

def test_nan_in_a_jvp_tangent():
    _, t = cr.jvp(cnp.sqrt, (0.0,), (0.0,))
    assert np.isnan(t)  # 0 · inf
    msg = raised(lambda: cr.jvp(lambda x: cnp.sqrt(x), (0.0,), (0.0,)))  # jvp-call
    assert "sqrt's JVP rule made a tangent of nan" in msg and at("jvp-call") in msg
    assert "tangent: y\u0307 = ∂y/∂x · x\u0307 = inf · 0 = nan" in msg  # ẏ, ẋ: a dot above


def test_jacfwd_and_hessian():
    msg = raised(lambda: cr.jacfwd(cnp.sqrt)(np.array([1.0, 0.0])))
    assert "sqrt's JVP rule made a tangent of nan" in msg
    msg = raised(lambda: cr.hessian(lambda x: cnp.sum(x ** 3 * cnp.sqrt(x)))(np.array([0.0, 1.0])))  # hess
    assert "sqrt's JVP rule made a tangent of nan" in msg and at("hess") in msg


def test_inside_vmap():
    msg = raised(lambda: cr.vmap(lambda x: cnp.log(x))(np.array([1.0, -1.0])))  # vmap-call
    assert "log made nan" in msg and at("vmap-call") in msg and "index (1,)" in msg
    msg = raised(lambda: cr.vmap(cr.grad(sqrt_times_zero))(np.array([1.0, 0.0])))
    assert "the VJP rule of sqrt" in msg and at("sqrt-call") in msg


def test_under_vmap_no_element_is_guessed():
    """A batched operand's raw array does not line up with the output on the right (x is one
    number per example here): the step shows whole arrays rather than a wrong element."""
    c = np.array([np.inf, 1.0])
    msg = raised(lambda: cr.vmap(lambda x: x * c)(np.array([1.0, 0.0])))  # vmap-mul
    assert "multiply made nan" in msg and at("vmap-mul") in msg
    assert "z = x ⊙ [inf, 1] = [[inf, 1], [nan, 0]]" in msg and "index (1, 0)" in msg


# -- on, off, nesting ------------------------------------------------------------------

def _processes():
    return [cls.__dict__["_process"] for cls in (Tensor, JVPTracer, BatchTracer)]


def _workload():
    """NaNs made in every mode: grad, tape, jvp, vmap."""
    cr.grad(sqrt_times_zero)(0.0)
    x = cr.tensor(0.0, requires_grad=True)
    (cnp.sqrt(x) * 0.0).backward()
    cr.jvp(cnp.sqrt, (0.0,), (0.0,))
    cr.vmap(cnp.log)(np.array([-1.0]))


def test_off_mode_changes_nothing_and_checks_nothing(monkeypatch):
    originals = _processes()
    calls = []
    for name in ("_new_bad", "_user_line", "_checked_pass"):
        fn = getattr(anomaly, name)
        monkeypatch.setattr(anomaly, name, lambda *a, fn=fn, name=name: calls.append(name) or fn(*a))
    _workload()  # off: no error, and not one call into the checker
    assert calls == []
    assert _processes() == originals and reverse._anomaly is None
    with cr.detect_anomaly():
        assert _processes() != originals and reverse._anomaly is not None
        with pytest.raises(FloatingPointError):
            cr.grad(sqrt_times_zero)(0.0)
    assert calls  # the same counters do count when the mode is on
    assert _processes() == originals and reverse._anomaly is None  # swapped back


def test_nested_context_managers_restore_the_mode():
    assert not anomaly.is_anomaly_enabled()
    with cr.detect_anomaly():
        assert anomaly.is_anomaly_enabled() and not anomaly._mode.check_inf
        with cr.detect_anomaly(check_inf=True):
            assert anomaly._mode.check_inf
            with cr.detect_anomaly(False):
                assert not anomaly.is_anomaly_enabled()
                cr.grad(sqrt_times_zero)(0.0)  # off here: no error
            assert anomaly.is_anomaly_enabled() and anomaly._mode.check_inf
        assert anomaly.is_anomaly_enabled() and not anomaly._mode.check_inf
        with pytest.raises(FloatingPointError):
            with cr.detect_anomaly(check_inf=True):
                cr.grad(norm)(np.zeros(2))
        assert anomaly.is_anomaly_enabled() and not anomaly._mode.check_inf  # restored by the error too
    assert not anomaly.is_anomaly_enabled()


def test_as_a_flag():
    cr.detect_anomaly(True)
    try:
        assert anomaly.is_anomaly_enabled()
        with pytest.raises(FloatingPointError):
            cr.grad(log_of)(-1.0)
    finally:
        cr.detect_anomaly(False)
    assert not anomaly.is_anomaly_enabled()
    assert np.isnan(cr.value_and_grad(log_of)(-1.0)[0])


def test_the_mode_is_process_wide_like_torchs():
    errors = []

    def other():
        try:
            cr.grad(log_of)(-1.0)
        except FloatingPointError as e:
            errors.append(str(e))

    with cr.detect_anomaly():
        th = threading.Thread(target=other)
        th.start()
        th.join()
    assert len(errors) == 1 and "log made nan" in errors[0]


def test_results_are_unchanged_when_nothing_is_wrong():
    f = lambda x: cnp.sum(cnp.tanh(x) * cnp.exp(x) / (1.0 + x ** 2))  # noqa: E731
    x = np.linspace(-1.0, 1.0, 5)
    with cr.detect_anomaly(check_inf=True):
        g, h, ex = cr.grad(f)(x), cr.hessian(f)(x), str(cr.explain(lambda a: cnp.sin(a) * a, 2.0))
        t = cr.tensor(x, requires_grad=True)
        f(t).backward()
    np.testing.assert_allclose(g, cr.grad(f)(x), rtol=0, atol=0)
    np.testing.assert_allclose(h, cr.hessian(f)(x), rtol=0, atol=0)
    np.testing.assert_allclose(t.grad._value, g, rtol=0, atol=0)
    assert ex == str(cr.explain(lambda a: cnp.sin(a) * a, 2.0))
    cr.testing.check_grads(f, (x,), order=1)


def test_forward_ad_dual_values():
    fwd = pytest.importorskip("chainrule.forward_ad")  # the tape's forward mode, where merged

    def run():
        with fwd.dual_level():
            d = fwd.make_dual(np.array([0.0, 4.0]), np.array([0.0, 1.0]))
            cnp.sqrt(d)  # dual-sqrt

    msg = raised(run)
    assert "sqrt's JVP rule made a tangent of nan" in msg and at("dual-sqrt") in msg
    assert "= inf · 0 = nan" in msg


def test_public_name():
    assert "detect_anomaly" in cr.__all__ and cr.detect_anomaly is anomaly.detect_anomaly
