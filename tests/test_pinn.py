"""cr.pinn: sampling, the residual's derivatives, the exact Burgers solution, training, the CLI;
cr.optim's schedules and L-BFGS budgets."""
import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.pinn import burgers, poisson

BOX = cr.pinn.Box([0.0, -1.0, 2.0], [1.0, 1.0, 5.0], names=("t", "x", "y"))


# -- sampling ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", cr.pinn.METHODS)
def test_sample_counts_bounds_and_seed(method):
    pts = BOX.sample(64, method, rng=3)
    assert pts.shape == (64, 3) and pts.dtype == np.float64
    assert BOX.contains(pts).all()
    assert np.array_equal(pts, BOX.sample(64, method, rng=3))          # reproducible
    assert not np.array_equal(pts, BOX.sample(64, method, rng=4))
    # spread over the box: every coordinate covers most of its range
    span = (pts.max(0) - pts.min(0)) / (BOX.hi - BOX.lo)
    assert (span > 0.8).all(), span


def test_lhs_is_stratified():
    n = 50
    pts = BOX.sample(n, "lhs", rng=0)
    strata = np.floor((pts - BOX.lo) / (BOX.hi - BOX.lo) * n).astype(int)
    for k in range(BOX.dim):                    # one point in each of the n strata, per coordinate
        assert sorted(strata[:, k].tolist()) == list(range(n))
    uni = np.floor(BOX.sample(n, "uniform", rng=0)[:, 0] * n).astype(int)
    assert len(set(uni.tolist())) < n          # the check can fail: i.i.d. draws leave strata empty


def test_sobol_is_more_even_than_uniform():
    # the discrepancy of a scrambled Sobol set of 256 points is far below i.i.d. draws'
    from scipy.stats import qmc
    u_sobol = cr.pinn.unit_cube(256, 2, "sobol", rng=0)
    u_iid = cr.pinn.unit_cube(256, 2, "uniform", rng=0)
    assert qmc.discrepancy(u_sobol) < 0.2 * qmc.discrepancy(u_iid)


def test_slice_and_boundary():
    s = BOX.sample_slice(20, axis="t", method="lhs", rng=0)
    assert s.shape == (20, 3) and (s[:, 0] == 0.0).all() and BOX.contains(s).all()
    s = BOX.sample_slice(5, axis=1, value=0.5, rng=0)
    assert (s[:, 1] == 0.5).all()
    b = BOX.sample_boundary(1000, rng=0)
    assert b.shape == (1000, 3) and BOX.contains(b).all()
    on = np.isclose(b, BOX.lo) | np.isclose(b, BOX.hi)
    assert (on.sum(1) >= 1).all()               # every point lies on a face
    # counts proportional to the face areas: faces normal to t have area 2*3, to x 1*3, to y 1*2
    normal = np.argmax(on, axis=1)
    areas = np.array([6.0, 3.0, 2.0])
    expected = 2 * areas / (2 * areas.sum()) * 1000
    assert np.allclose(np.bincount(normal, minlength=3), 2 * expected / 2, atol=1)
    xb = cr.pinn.Box([0.0, -1.0], [1.0, 1.0], names=("t", "x")).sample_boundary(7, axes=("x",), rng=0)
    assert sorted(set(np.abs(xb[:, 1]).tolist())) == [1.0] and len(xb) == 7


def test_sampling_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        BOX.sample(3, "halton")
    with pytest.raises(ValueError, match="lo < hi"):
        cr.pinn.Box([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="no coordinate named 'z'"):
        BOX.sample_slice(3, axis="z")
    with pytest.raises(TypeError, match="rng must be"):
        BOX.sample(3, rng="seed")


def test_resampler_period():
    r = cr.pinn.Resampler(lambda rng: BOX.sample(4, rng=rng), period=3, rng=0)
    pts = [r(k) for k in range(7)]
    assert pts[0] is pts[1] is pts[2] and pts[3] is pts[5] and pts[6] is not pts[5]
    assert r.count == 3 and not np.array_equal(pts[0], pts[3])
    once = cr.pinn.Resampler(lambda rng: BOX.sample(4, rng=rng), rng=0)
    assert once(0) is once(10) and once.count == 1
    with pytest.raises(ValueError, match="period must be >= 1"):
        cr.pinn.Resampler(lambda rng: None, period=0)


def test_normalize_maps_the_box_onto_the_cube():
    corners = np.array([BOX.lo, BOX.hi, (BOX.lo + BOX.hi) / 2])
    assert np.allclose(BOX.normalize(corners), [[-1, -1, -1], [1, 1, 1], [0, 0, 0]])
    net = cr.pinn.mlp(BOX, [3, 5, 1], rng=0)
    x = BOX.sample(4, rng=1)
    assert np.allclose(net(x).detach().numpy(), net.net(BOX.normalize(x)).detach().numpy())
    with pytest.raises(ValueError, match="box's dimension"):
        cr.pinn.mlp(BOX, [2, 5, 1])


def test_weighted_loss():
    total, parts = cr.pinn.weighted_loss({"a": 1.0, "b": 2.0}, {"b": 0.5})
    assert total == 2.0 and parts == {"a": 1.0, "b": 2.0}
    with pytest.raises(KeyError, match="unknown terms"):
        cr.pinn.weighted_loss({"a": 1.0}, {"c": 1.0})


# -- derivatives ---------------------------------------------------------------------------

def test_partials_and_laplacian_of_a_network_vs_finite_differences():
    net = cr.pinn.mlp(BOX, [3, 8, 8, 1], rng=0)
    p = net.params()
    x = BOX.sample(5, rng=2)
    u = lambda z: net.apply(p, z)
    v, du, d2 = cr.pinn.partials(u, x, second=(0, 2))
    lap = cr.pinn.laplacian(u, x)
    h = 1e-4
    f = lambda z: np.asarray(u(z))
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        fd1 = (f(x + e) - f(x - e)) / (2 * h)
        assert np.allclose(du[:, j:j + 1], fd1, rtol=1e-6, atol=1e-8)
    fd2 = [(f(x + e) - 2 * f(x) + f(x - e)) / h ** 2 for e in np.eye(3) * h]
    assert np.allclose(d2[0], fd2[0], rtol=1e-4, atol=1e-5)
    assert np.allclose(d2[1], fd2[2], rtol=1e-4, atol=1e-5)
    assert np.allclose(lap, sum(fd2), rtol=1e-4, atol=1e-5)
    assert np.allclose(v, f(x))


def test_partials_under_jit_and_grad_match_eager():
    net = cr.pinn.mlp(BOX, [3, 6, 1], rng=0)
    x = BOX.sample(7, rng=0)

    def loss(p):
        v, du, (uxx,) = cr.pinn.partials(lambda z: net.apply(p, z), x, second=(1,))
        return cnp.mean((du[:, :1] + v * du[:, 1:2] - 0.1 * uxx) ** 2)

    g_eager = cr.grad(loss)(net.params())
    g_jit = cr.jit(cr.grad(loss))(net.params())
    for k in g_eager:
        assert np.allclose(g_eager[k], g_jit[k], rtol=1e-10, atol=1e-12)
    cr.testing.check_grads(loss, (net.params(),), order=1, modes=("rev",))


# -- the exact Burgers solution ------------------------------------------------------------

def test_burgers_exact_initial_and_boundary():
    x = np.linspace(-1, 1, 41)
    assert np.allclose(burgers.exact(0.0, x), -np.sin(np.pi * x), atol=1e-14)
    assert np.allclose(burgers.exact(1e-6, x), -np.sin(np.pi * x), atol=1e-4)
    t = np.linspace(0.01, 1, 30)
    assert np.allclose(burgers.exact(t, -1.0), 0, atol=1e-12)
    assert np.allclose(burgers.exact(t, 1.0), 0, atol=1e-12)
    # odd in x; the quadrature has converged
    assert np.allclose(burgers.exact(0.6, x), -burgers.exact(0.6, -x), atol=1e-12)
    tt, xx = np.meshgrid(t, x)
    assert np.allclose(burgers.exact(tt, xx), burgers.exact(tt, xx, order=250), atol=1e-12)


def test_burgers_exact_satisfies_the_pde():
    # central differences of the residual, away from the shock's few grid cells at x = 0
    t, x = np.meshgrid(np.linspace(0.05, 0.95, 19), np.concatenate([np.linspace(-0.95, -0.1, 18),
                                                                    np.linspace(0.1, 0.95, 18)]))
    u = burgers.exact
    ht, hx = 1e-5, 1e-4
    u_t = (u(t + ht, x) - u(t - ht, x)) / (2 * ht)
    u_x = (u(t, x + hx) - u(t, x - hx)) / (2 * hx)
    u_xx = (u(t, x + hx) - 2 * u(t, x) + u(t, x - hx)) / hx ** 2
    res = u_t + u(t, x) * u_x - burgers.NU * u_xx
    assert np.max(np.abs(res)) < 1e-4 * np.max(np.abs(u_t) + np.abs(u_x))
    wrong = u_t + u(t, x) * u_x - 2 * burgers.NU * u_xx      # the test can fail: a wrong viscosity
    assert np.max(np.abs(wrong)) > 1e-3


# -- training ------------------------------------------------------------------------------

def test_short_training_lowers_the_loss_and_error():
    problem = burgers.make_problem(n_u=40, n_f=200, seed=0)
    net = cr.pinn.mlp(problem.box, [2, 10, 10, 1], rng=0)
    loss = burgers.loss_fn(net)
    data = (problem.x_f, problem.x_u, problem.u_u)
    before = float(loss(net.params(), *data)[0])
    err0 = burgers.relative_l2(net, net.params(), problem)
    params, info = burgers.train(net, problem, adam_steps=30, iters=40, progress=False)
    after = float(loss(params, *data)[0])
    assert after < 0.3 * before and info["loss"] == pytest.approx(after, rel=1e-8)
    assert burgers.relative_l2(net, params, problem) < err0
    assert info["adam_steps"] == 30 and info["iters"] == 40 and info["optimizer"] == "ssbfgs"
    assert set(info["terms"]) == {"u", "f"}


def test_fit_respects_the_time_budget():
    problem = burgers.make_problem(n_u=20, n_f=100, seed=0)
    net = cr.pinn.mlp(problem.box, [2, 8, 1], rng=0)
    _, info = burgers.train(net, problem, adam_steps=10 ** 6, iters=10 ** 6, time_budget=1.5,
                            progress=False)
    assert info["wall_s"] < 6 and info["adam_steps"] < 10 ** 6 and info["message"] == "time budget reached"


def test_poisson_problem_and_short_training():
    problem = poisson.make_problem(3, n_f=100, n_b=60, n_test=200)
    assert problem.x_f.shape == (100, 3) and problem.x_b.shape == (60, 3)
    # the source is -Laplacian of the exact solution (laplacian of a function written in cnp)
    u = lambda x: cnp.sin(np.pi * cnp.sum(x - 0.5, axis=1, keepdims=True) / np.sqrt(3))
    np.testing.assert_allclose(np.asarray(u(problem.x_b)), problem.g, rtol=1e-12)
    lap = cr.pinn.laplacian(u, problem.x_f)
    np.testing.assert_allclose(-lap, problem.f, rtol=1e-10, atol=1e-12)
    net, params, info = poisson.train(problem, adam_steps=20, iters=30, progress=False)
    assert info["loss"] < 0.5 * float(poisson.loss_fn(net)(net.params(), problem.x_f, problem.f,
                                                            problem.x_b, problem.g)[0])


@pytest.mark.slow
def test_cli_burgers_quick(tmp_path, capsys):
    from chainrule.cli import main
    out = tmp_path / "b.png"
    assert main(["pinn", "burgers", "--quick", "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "relative L2 error: " in text and "SSBFGS" in text
    assert out.stat().st_size > 10_000
    err = float(text.split("relative L2 error: ")[1].split()[0])
    assert 0 < err < 1


def test_cli_poisson_quick(capsys, tmp_path):
    from chainrule.cli import main
    out = tmp_path / "p.png"
    assert main(["pinn", "poisson", "--dim", "2", "--quick", "--no-progress", "--out", str(out)]) == 0
    err = float(capsys.readouterr().out.split("relative L2 error: ")[1].split()[0])
    assert 0 < err < 0.5 and out.stat().st_size > 10_000
    assert main(["pinn", "poisson", "--dim", "5", "--stde", "4", "--quick", "--no-progress", "--out", "none"]) == 0
    text = capsys.readouterr().out
    assert "STDE Laplacian with 4 Rademacher directions" in text and "Adam 100 steps (stopped: adam_steps done)" in text


# -- cr.optim: schedules and L-BFGS budgets -------------------------------------------------

def _torch_lrs(make, n=25):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def _our_lrs(make, n=25):
    opt = cr.optim.SGD([cr.tensor(np.zeros(1), requires_grad=True)], lr=0.3)
    sched = make(cr.optim, opt)
    out = []
    for _ in range(n):
        sched.step()
        out.append(sched.get_last_lr()[0])
        assert opt.lr == out[-1]
    return out


@pytest.mark.parametrize("make", [
    lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
    lambda m, o: m.ExponentialLR(o, gamma=0.9),
    lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
], ids=["StepLR", "ExponentialLR", "CosineAnnealingLR"])
def test_schedulers_match_torch(make):
    assert np.allclose(_our_lrs(make), _torch_lrs(make), rtol=1e-9, atol=1e-12)


def test_schedule_functions_closed_forms():
    s = cr.optim.exponential_decay(0.1, 10, 0.5)
    assert [s(k) for k in (0, 5, 10, 30)] == pytest.approx([0.1, 0.1 * 0.5 ** 0.5, 0.05, 0.0125])
    s = cr.optim.exponential_decay(0.1, 10, 0.5, staircase=True, transition_begin=5, end_value=0.03)
    assert [s(k) for k in (0, 14, 15, 100)] == pytest.approx([0.1, 0.1, 0.05, 0.03])
    s = cr.optim.cosine_decay_schedule(2.0, 100, alpha=0.25)
    ks = np.arange(0, 150, 7)
    want = 2.0 * (0.75 * 0.5 * (1 + np.cos(np.pi * np.minimum(ks, 100) / 100)) + 0.25)
    assert np.allclose([s(k) for k in ks], want, rtol=1e-14)
    # staircase exponential decay is StepLR
    ours = _our_lrs(lambda m, o: m.StepLR(o, step_size=3, gamma=0.7))
    s = cr.optim.exponential_decay(0.3, 3, 0.7, staircase=True)
    assert np.allclose(ours, [s(k) for k in range(1, 26)], rtol=1e-14)
    with pytest.raises(ValueError, match="decay_steps must be a positive"):
        cr.optim.cosine_decay_schedule(1.0, 0)


def _quadratic():
    A = np.diag(np.linspace(1, 100, 20))
    return cr.value_and_grad(lambda p: 0.5 * p["x"] @ (A @ p["x"]) + cnp.sum(cnp.cos(p["x"]))), \
        {"x": np.ones(20)}


def test_lbfgs_minimize_budgets_and_callback():
    fun, p0 = _quadratic()
    _, state = cr.optim.lbfgs(tolerance_grad=0, tolerance_change=0).minimize(fun, p0, max_iter=7)
    assert state["step"] == 7 and state["message"] == "max_iter reached"
    _, state = cr.optim.lbfgs(tolerance_grad=0, tolerance_change=0).minimize(fun, p0, max_evals=5)
    assert 5 <= state["n_evals"] <= 8 and state["message"] == "max_evals reached"
    seen = []
    _, state = cr.optim.lbfgs().minimize(fun, p0, callback=lambda p, s: seen.append(s["value"]) or len(seen) == 3)
    assert len(seen) == 3 and state["message"] == "stopped by callback" and seen[2] < seen[0]
    _, state = cr.optim.lbfgs(**cr.optim.LBFGS_PINN).minimize(fun, p0, max_time=0.0)
    assert state["step"] == 1 and state["message"] == "time budget reached"


def test_lbfgs_pinn_defaults_converge_by_relative_change():
    fun, p0 = _quadratic()
    p, state = cr.optim.lbfgs(**cr.optim.LBFGS_PINN).minimize(fun, p0, max_iter=500)
    assert state["converged"], state["message"]
    assert np.max(np.abs(fun(p)[1]["x"])) < 1e-6
    assert cr.optim.LBFGS_PINN["history_size"] == 50
    with pytest.raises(ValueError, match="rtol_change must be >= 0"):
        cr.optim.lbfgs(rtol_change=-1)


def test_lbfgs_wrapper_takes_rtol_change():
    xy = cr.tensor([-1.2, 1.0], requires_grad=True)
    opt = cr.optim.LBFGS([xy], max_iter=500, tolerance_grad=0, tolerance_change=0, rtol_change=1e-3)

    def closure():
        opt.zero_grad()
        loss = 100 * (xy[1] - xy[0] ** 2) ** 2 + (1 - xy[0]) ** 2
        loss.backward()
        return loss

    opt.step(closure)
    # a loose relative tolerance stops well before the minimum (1, 1)
    assert opt.state["message"] == "relative decrease below rtol_change"
    assert opt.state["step"] < 100


def test_cli_rejects_a_bad_dimension(capsys):
    from chainrule.cli import main
    with pytest.raises(SystemExit):
        main(["pinn", "poisson", "--dim", "0"])
    assert "--dim: expected a positive integer, got 0" in capsys.readouterr().err


def test_burgers_exact_vs_dense_quadrature_near_the_shock():
    # an independent oracle: the Cole-Hopf integrals in y = x - eta by the trapezoid rule on a fine grid
    def dense(t, x):
        s = math.sqrt(2 * burgers.NU * t)
        y = np.linspace(x - 30 * s, x + 30 * s, 200_001)   # phi_0 pulls the mass far from y = x
        e = -np.cos(np.pi * y) / (2 * np.pi * burgers.NU) - (x - y) ** 2 / (4 * burgers.NU * t)
        w = np.exp(e - e.max())
        return -np.trapezoid(np.sin(np.pi * y) * w, y) / np.trapezoid(w, y)

    for t, x in [(0.25, -0.3), (0.4, -0.05), (0.5, 0.004), (0.75, -0.01), (1.0, 0.02), (0.3, 0.6)]:
        assert burgers.exact(t, x) == pytest.approx(dense(t, x), abs=1e-12), (t, x)


def test_lhs_without_scipy_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[special\]'.*method='uniform'"):
        BOX.sample(4, "lhs")
    assert BOX.sample(4, "uniform", rng=0).shape == (4, 3)


def test_fit_callback_sees_every_step_and_stops():
    loss = lambda p, y: cr.pinn.weighted_loss({"fit": cnp.mean((p["a"] - y) ** 4)})   # many L-BFGS steps
    y = np.array([1.0, 2.0])
    seen = []
    p, info = cr.pinn.fit(loss, {"a": np.array(0.0)}, (y,), adam_steps=3, iters=50, optimizer="lbfgs",
                          progress=False, callback=lambda phase, step, params, value: seen.append((phase, value)) or
                          (phase == "lbfgs" and len(seen) == 5))
    assert [ph for ph, _ in seen] == ["adam"] * 3 + ["lbfgs"] * 2
    assert info["message"] == "stopped by callback" and seen[-1][1] < seen[0][1]
    seen.clear()
    _, info = cr.pinn.fit(loss, {"a": np.array(0.0)}, (y,), adam_steps=10, progress=False,
                          callback=lambda *a: seen.append(a) or len(seen) == 2)
    assert info["adam_steps"] == 2 and info["iters"] == 0


# -- cr.optim.bfgs: the dense, self-scaled quasi-Newton core ----------------------------------

def _textbook_bfgs(H, s, y, tau=1.0):
    """Nocedal & Wright eq. 6.17 on H / tau, the full matrix: the oracle for the in-place update."""
    rho = 1.0 / (y @ s)
    E = np.eye(len(s))
    return (E - rho * np.outer(s, y)) @ (H / tau) @ (E - rho * np.outer(y, s)) + rho * np.outer(s, s)


@pytest.mark.parametrize("scaling", [None, "ssbfgs"])
def test_bfgs_update_is_the_textbook_formula(scaling):
    rng = np.random.default_rng(0)
    n = 6
    A = rng.standard_normal((n, n))
    H = A @ A.T + n * np.eye(n)                      # an SPD inverse-Hessian estimate
    g = rng.standard_normal(n)
    step = 0.7
    s = -step * H @ g                                # the step along d = -H g
    M = rng.standard_normal((n, n))
    y = (M @ M.T + 0.1 * np.eye(n)) @ s             # a gradient change with s.y > 0
    core = cr.optim.bfgs(scaling=scaling)
    got = np.triu(core._record(np.triu(H).copy(), s, y, g, step))
    tau = 1.0
    if scaling == "ssbfgs":
        b = s @ np.linalg.solve(H, s) / (s @ y)       # the model's curvature along s over the measured one
        tau = min(1.0, 1.0 / b)
        assert tau < 1.0 or b <= 1.0
    np.testing.assert_allclose(got, np.triu(_textbook_bfgs(H, s, y, tau)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scaling", [None, "ssbfgs"])
def test_bfgs_minimises_a_quadratic_to_its_solution(scaling):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((8, 8))
    A = A @ A.T + 0.5 * np.eye(8)
    b = rng.standard_normal(8)
    fun = cr.value_and_grad(lambda p: 0.5 * p["x"] @ (A @ p["x"]) - b @ p["x"])
    p, state = cr.optim.bfgs(scaling=scaling, tolerance_grad=1e-10, tolerance_change=0).minimize(fun, {"x": np.zeros(8)}, max_iter=200)
    np.testing.assert_allclose(p["x"], np.linalg.solve(A, b), rtol=1e-7, atol=1e-8)
    assert state["converged"] and state["H"].shape == (8, 8)


def test_bfgs_on_rosenbrock_matches_scipy_bfgs():
    scipy_opt = pytest.importorskip("scipy.optimize")
    rosen = lambda p: 100 * (p[1] - p[0] ** 2) ** 2 + (1 - p[0]) ** 2
    x0 = np.array([-1.2, 1.0])
    ref = scipy_opt.minimize(rosen, x0, method="BFGS", jac=cr.grad(rosen), options={"gtol": 1e-9})
    for scaling in (None, "ssbfgs"):
        p, state = cr.optim.bfgs(scaling=scaling, tolerance_grad=1e-9).minimize(cr.value_and_grad(rosen), x0)
        np.testing.assert_allclose(p, ref.x, rtol=1e-7)
        assert state["step"] < 3 * ref.nit


def test_bfgs_refuses_too_many_parameters_and_bad_scaling():
    with pytest.raises(ValueError, match=r"bfgs: 11 parameters .*max_params=10.*cr.optim.lbfgs"):
        cr.optim.bfgs(max_params=10).init({"w": np.zeros(11)})
    with pytest.raises(ValueError, match="scaling must be 'ssbfgs'"):
        cr.optim.bfgs(scaling="oren")


def test_fit_optimizer_choice():
    loss = lambda p, y: cr.pinn.weighted_loss({"fit": cnp.mean((p["a"] - cnp.mean(y)) ** 2)})
    y = (np.array([1.0, 3.0]),)
    for name in ("ssbfgs", "bfgs", "lbfgs"):
        p, info = cr.pinn.fit(loss, {"a": np.zeros(3)}, y, adam_steps=0, optimizer=name, progress=False)
        assert info["optimizer"] == name and np.allclose(p["a"], 2.0)
    big = {"a": np.zeros(cr.optim.BFGS_MAX_PARAMS + 1)}
    _, info = cr.pinn.fit(loss, big, y, adam_steps=0, iters=1, progress=False)
    assert info["optimizer"] == "lbfgs"
    core = cr.optim.bfgs(scaling=None)
    _, info = cr.pinn.fit(loss, {"a": np.zeros(2)}, y, adam_steps=0, optimizer=core, progress=False)
    assert info["optimizer"] == "bfgs"
    with pytest.raises(ValueError, match="optimizer must be 'auto'"):
        cr.pinn.fit(loss, {"a": np.zeros(2)}, y, optimizer="newton", progress=False)


def test_poisson_stde_loss_is_exact_for_an_orthogonal_design_and_trains():
    # each half of v is a Hadamard design ((1/4) sum_k v_k v_k^T = I), so each half's estimate is the
    # exact Laplacian and the product of the two residuals is the forward Laplacian's mean square
    problem = poisson.make_problem(3, n_f=50, n_b=30, n_test=100)
    net = cr.pinn.mlp(problem.box, [3, 8, 8, 1], rng=0)
    H4 = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=float)[:, 1:]
    v = np.concatenate([H4, H4])
    loss = poisson.loss_fn(net)
    data = (problem.x_f, problem.f, problem.x_b, problem.g)
    (a, pa), (b, pb) = loss(net.params(), *data), loss(net.params(), *data, v)
    np.testing.assert_allclose(pb["pde"], pa["pde"], rtol=1e-10)
    _, params, info = poisson.train(problem, adam_steps=60, stde=4, batch=30, lr=3e-3, progress=False)
    assert info["adam_steps"] == 60 and info["message"] == "adam_steps done"
    with pytest.raises(ValueError, match="stde must be a number of directions >= 2"):
        poisson.train(problem, adam_steps=1, stde=1, progress=False)


def test_fit_shard_names_a_bad_argument():
    loss = lambda p, x, y: cr.pinn.weighted_loss({"fit": cnp.mean((p["a"] * x - y) ** 2)})  # noqa: E731
    data = (np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match=r"pinn.fit: shard=\(2,\) names data\[2\], but data has 2 arguments"):
        cr.pinn.fit(loss, {"a": np.array(0.0)}, data, adam_steps=1, iters=0, progress=False, shard=(2,))
    with pytest.raises(ValueError, match=r"same number of rows, got data\[0\]: 4, data\[1\]: 3"):
        cr.pinn.fit(loss, {"a": np.array(0.0)}, data, adam_steps=1, iters=0, progress=False, shard=(0, 1))
