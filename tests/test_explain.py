"""cr.explain: the steps, their numbers against independent oracles, and the renderings."""
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.explain import Step
from chainrule.explain.notation import bar

E2 = math.exp(2.0)


def seed_L(x, y, w):
    return cnp.exp(x * y) + w


@pytest.fixture(scope="module")
def seed_ex():
    return cr.explain(seed_L, 1.0, 2.0, 3.0, output="L")


def _final_adjoints(ex):
    """Each node's adjoint after the last backward step that adds to it, read from the step log."""
    out = {}
    for s in ex.steps:
        if s.phase == "backward":
            out[s.node] = s.value
    return out


def test_seed_forward_steps(seed_ex):
    fwd = [s for s in seed_ex.steps if s.phase == "forward"]
    assert [(s.index, s.node, s.op, s.inputs) for s in fwd] == [
        (1, "u", "multiply", ("x", "y")), (2, "v", "exp", ("u",)), (3, "L", "add", ("v", "w"))]
    assert [float(s.value) for s in fwd] == pytest.approx([2.0, E2, E2 + 3.0], rel=1e-15)
    assert fwd[1].formula == "v = exp(u) = exp(2) = 7.389"
    assert all(isinstance(s, Step) for s in seed_ex.steps)


def test_seed_backward_steps(seed_ex):
    bwd = [s for s in seed_ex.steps if s.phase == "backward"]
    assert len(bwd) == 5  # one per edge: L->v, L->w, v->u, u->x, u->y
    by_node = {s.node: (s.inputs, float(s.value)) for s in bwd}
    # adjoints 1, e^{xy}, y e^{xy}, x e^{xy}, 1 at x = 1, y = 2
    assert by_node["v"] == (("L",), pytest.approx(1.0))
    assert by_node["u"] == (("v",), pytest.approx(E2, rel=1e-15))
    assert by_node["x"] == (("u",), pytest.approx(2.0 * E2, rel=1e-15))
    assert by_node["y"] == (("u",), pytest.approx(1.0 * E2, rel=1e-15))
    assert by_node["w"] == (("L",), pytest.approx(1.0))
    # reverse topological order: v's adjoint is complete before u's step, u's before x's and y's
    order = [s.node for s in bwd]
    assert order.index("v") < order.index("u") < min(order.index("x"), order.index("y"))
    assert "ū += v̄ · ∂v/∂u = 1 · exp(u) = 7.389" in [s.formula for s in bwd]
    assert seed_ex.grads == {"x": pytest.approx(2 * E2), "y": pytest.approx(E2), "w": pytest.approx(1.0)}


def test_local_derivatives_by_edge(seed_ex):
    assert seed_ex.local == {("v", "L"): "∂L/∂v = 1", ("w", "L"): "∂L/∂w = 1", ("u", "v"): "∂v/∂u = exp(u)",
                             ("x", "u"): "∂u/∂x = y", ("y", "u"): "∂u/∂y = x"}


def test_gradients_are_marked(seed_ex):
    marked = [s.node for s in seed_ex.steps if "⇒ ∂L/∂" in s.formula]
    assert sorted(marked) == ["w", "x", "y"]


SEED_TEXT = """\
Inputs: x = 1, y = 2, w = 3

Forward pass: values, in topological order
  1. u = x · y  = 1 · 2     = 2
  2. v = exp(u) = exp(2)    = 7.389
  3. L = v + w  = 7.389 + 3 = 10.39

Backward pass: adjoints, in reverse order, from the seed L̄ = 1
  1. v̄ += L̄ · ∂L/∂v = 1 · 1      = 1
  2. w̄ += L̄ · ∂L/∂w = 1 · 1      = 1       ⇒ ∂L/∂w = 1
  3. ū += v̄ · ∂v/∂u = 1 · exp(u) = 7.389
  4. x̄ += ū · ∂u/∂x = 7.389 · y  = 14.78   ⇒ ∂L/∂x = 14.78
  5. ȳ += ū · ∂u/∂y = 7.389 · x  = 7.389   ⇒ ∂L/∂y = 7.389

Gradient of L = 10.39: ∂L/∂x = 14.78, ∂L/∂y = 7.389, ∂L/∂w = 1"""


def test_text_snapshot_seed(seed_ex):
    assert str(seed_ex) == SEED_TEXT


FANOUT_TEXT = """\
Inputs: x = 2

Forward pass: values, in topological order
  1. u = sin(x) = sin(2)     = 0.9093
  2. f = u · x  = 0.9093 · 2 = 1.819

Backward pass: adjoints, in reverse order, from the seed f̄ = 1
  1. ū += f̄ · ∂f/∂u = 1 · x      = 2
  2. x̄ += f̄ · ∂f/∂x = 1 · u      = 0.9093
  3. x̄ += ū · ∂u/∂x = 2 · cos(x) = -0.8323   x̄ = 0.9093 + (-0.8323) = 0.077   ⇒ ∂f/∂x = 0.077

Gradient of f = 1.819: ∂f/∂x = 0.077"""


def test_text_snapshot_fan_out_is_a_sum():
    ex = cr.explain(lambda x: cnp.sin(x) * x, 2.0)
    assert str(ex) == FANOUT_TEXT
    # the running adjoint after each contribution, and the total equal to d/dx x sin x
    xs = [float(s.value) for s in ex.steps if s.phase == "backward" and s.node == "x"]
    assert xs == pytest.approx([math.sin(2.0), math.sin(2.0) + 2.0 * math.cos(2.0)])


def _shared(x):
    a = cnp.exp(x)
    b = cnp.sin(a)
    return b + a  # add reads b first, and b reads a: a must still come first


def _diamond_chain(x):
    for _ in range(30):
        x = cnp.tanh(x) * x + cnp.sin(x)
    return x


@pytest.mark.parametrize("f", [_shared, _diamond_chain, lambda x: cnp.sin(x) * x])
def test_forward_steps_are_in_topological_order(f):
    ex = cr.explain(f, 0.5)
    defined = {n.name for n in ex.nodes.values() if n.kind == "input"}
    for s in (s for s in ex.steps if s.phase == "forward"):
        assert set(s.inputs) <= defined, (s.formula, defined)
        defined.add(s.node)
    assert float(ex.grads["x"]) == pytest.approx(float(cr.grad(f)(0.5)), rel=1e-13)


def test_intermediate_names():
    small = cr.explain(lambda x: cnp.exp(cnp.sin(x)) * x, 1.0)
    assert [s.node for s in small.steps if s.phase == "forward"] == ["u", "v", "f"]
    big = cr.explain(_diamond_chain, 0.5)  # more intermediates than letters: v1, v2, ...
    names = [s.node for s in big.steps if s.phase == "forward"]
    assert names[:3] == ["v1", "v2", "v3"] and names[-1] == "f" and len(set(names)) == len(names)


def test_running_adjoint_with_three_contributions():
    ex = cr.explain(lambda x: x * x * x, 2.0)  # x reaches the output along three edges
    xs = [float(s.value) for s in ex.steps if s.phase == "backward" and s.node == "x"]
    assert xs == pytest.approx([4.0, 8.0, 12.0])  # u = x·x, then + x·x, then + x·x: 3x²


def test_power_rule_reads_simply():
    ex = cr.explain(lambda x: (x ** 2 + 1) ** 3, 1.5, output="y")
    text = str(ex)
    assert "= 1 · 3·v²" in text and "= 31.69 · 2·x" in text
    assert float(ex.grads["x"]) == pytest.approx(6 * 1.5 * (1.5 ** 2 + 1) ** 2)
    # a formula's argument after a number is renamed too: square's "2x" reads 2·u
    sq = cr.explain(lambda x: cnp.square(cnp.sin(x)), 0.7)
    u_step = next(s for s in sq.steps if s.phase == "backward" and s.node == "u")
    assert u_step.formula.startswith("ū += f̄ · ∂f/∂u = 1 · 2·u = ")
    assert r"1 \cdot 2\,u = " in u_step.latex


# -- the seeds' 1-2-1 network -------------------------------------------------------

WEIGHTS = dict(w11=0.5, b1=0.1, w12=-0.4, b2=-0.1, wo1=0.8, wo2=0.6, bo=0.05)


def mlp_loss(w11, b1, w12, b2, wo1, wo2, bo, x=0.8, target=0.5):
    h1 = cnp.tanh(w11 * x + b1)
    h2 = cnp.tanh(w12 * x + b2)
    return (wo1 * h1 + wo2 * h2 + bo - target) ** 2 / 2


def test_tiny_mlp_seven_gradients_from_the_log_equal_cr_grad():
    ex = cr.explain(mlp_loss, *WEIGHTS.values(), output="L")
    log = _final_adjoints(ex)
    expected = cr.grad(mlp_loss, argnums=tuple(range(7)))(*WEIGHTS.values())
    for name, g in zip(WEIGHTS, expected):
        assert float(log[name]) == pytest.approx(float(g), rel=1e-13, abs=1e-15), name
    assert sum(s.phase == "forward" for s in ex.steps) == 13
    # x and target are not inputs here: they appear as numbers in the formulas
    assert "u = w11 · 0.8 = 0.5 · 0.8 = 0.4" in [s.formula for s in ex.steps]


def test_wrt_hides_edges_to_other_inputs():
    ex = cr.explain(seed_L, 1.0, 2.0, 3.0, wrt="x", output="L")
    assert ex.grads == {"x": pytest.approx(2 * E2)}
    assert {s.node for s in ex.steps if s.phase == "backward"} == {"v", "u", "x"}
    ex1 = cr.explain(seed_L, 1.0, 2.0, 3.0, wrt=(0, 2), output="L")
    assert set(ex1.grads) == {"x", "w"}


# -- arrays: oracle cr.grad ------------------------------------------------------------

def _f_matmul(W, x, b):
    return cnp.sum(cnp.tanh(W @ x + b) ** 2)


def _f_broadcast(a, b):
    return cnp.mean(cnp.exp(a * b) - a)   # (3, 2) with (1, 2), a used twice


def _f_fanout(x, W):
    h = W @ x
    return cnp.sum(h * h) + cnp.sum(cnp.sin(h) * x[:2].sum())


@pytest.mark.parametrize("f, shapes", [
    (_f_matmul, [(2, 3), (3,), (2,)]),
    (_f_broadcast, [(3, 2), (1, 2)]),
    (_f_fanout, [(3,), (2, 3)]),
])
def test_array_gradients_equal_cr_grad(f, shapes):
    rng = np.random.default_rng(sum(map(sum, shapes)))
    args = [rng.normal(size=s) for s in shapes]
    ex = cr.explain(f, *args)
    oracle = cr.grad(f, argnums=tuple(range(len(args))))(*args)
    log = _final_adjoints(ex)
    names = list(ex.grads)
    assert len(names) == len(args)
    for name, a, g in zip(names, args, oracle):
        assert np.shape(ex.grads[name]) == a.shape
        np.testing.assert_allclose(ex.grads[name], g, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(log[name], g, rtol=1e-12, atol=1e-14)


def test_matrix_formulas_read_as_in_a_textbook():
    rng = np.random.default_rng(1)
    ex = cr.explain(lambda W, x: cnp.sum(cnp.tanh(W @ x)), rng.normal(size=(2, 3)), rng.normal(size=3))
    formulas = [s.formula for s in ex.steps]
    assert any(f.startswith("W̄ += ū · xᵀ = 2×3 [") for f in formulas), formulas
    assert any(f.startswith("x̄ += Wᵀ · ū = [") for f in formulas), formulas
    assert formulas[0].startswith("u = W · x = [")
    assert any("⊙" in f for f in formulas)  # the elementwise tanh' on a vector


def test_broadcasting_is_said():
    ex = cr.explain(lambda a, b: cnp.sum(a * b), np.ones((3, 2)), np.ones((1, 2)))
    b_step = next(s for s in ex.steps if s.phase == "backward" and s.node == "b")
    assert "summed over broadcast axes to 1×2" in b_step.formula
    np.testing.assert_allclose(b_step.value, [[3.0, 3.0]])


# -- the steps come from the engine ------------------------------------------------------

def _sin_with_a_wrong_rule():
    """sin with a deliberately wrong custom rule (g * 100): explain must show what the engine ran."""
    @cr.custom_vjp
    def myf(x):
        return cnp.sin(x)

    myf.defvjp(lambda x: (cnp.sin(x), None), lambda res, g: (g * 100.0,))
    return myf


def test_backward_steps_come_from_the_primitives_own_rules():
    f = _sin_with_a_wrong_rule()
    ex = cr.explain(lambda x: f(x) * 2.0, 1.0)
    assert float(ex.grads["x"]) == pytest.approx(200.0)
    assert float(ex.grads["x"]) == pytest.approx(float(cr.grad(lambda x: f(x) * 2.0)(1.0)))


# -- models (duck-typed cr.nn) -----------------------------------------------------------------

class TinyModel:
    """A stand-in for a cr.nn.Module: named_parameters() and apply(params, x)."""

    def __init__(self):
        self.params = {"hidden.weight": np.array([[0.5], [-0.4]]), "hidden.bias": np.array([0.1, -0.1]),
                       "out.weight": np.array([[0.8, 0.6]]), "out.bias": np.array([0.05])}

    def named_parameters(self):  # Tensors, as cr.nn gives them
        return ((path, cr.tensor(v, requires_grad=True)) for path, v in self.params.items())

    def apply(self, params, x):
        h = cnp.tanh(params["hidden.weight"] @ x + params["hidden.bias"])
        return cnp.sum((params["out.weight"] @ h + params["out.bias"] - 0.5) ** 2) / 2


def test_model_weights_are_named_by_path():
    model = TinyModel()
    x = np.array([0.8])
    ex = cr.explain(model, x)
    assert set(ex.grads) == set(model.params)
    for path in model.params:
        assert ex.nodes[path].kind == "input"
    oracle = cr.grad(model.apply)(model.params, x)
    for path, g in oracle.items():
        np.testing.assert_allclose(ex.grads[path], g, rtol=1e-13)
    assert any(s.formula.startswith("hidden.weight.grad += ") for s in ex.steps)
    assert bar("bo") == "b\u0305o\u0305" and bar("w11") == "w\u030411"
    # the same numbers as the seeds' 1-2-1 network written with scalars
    scalar = cr.grad(mlp_loss, argnums=0)(*WEIGHTS.values())
    assert float(ex.grads["hidden.weight"][0, 0]) == pytest.approx(float(scalar), rel=1e-13)


def test_function_of_a_model():
    model = TinyModel()
    x = np.array([0.8])

    def loss(m, x):
        return m(x) * 3.0

    ex = cr.explain(loss, model, x, wrt="m")
    oracle = cr.grad(lambda p, x: model.apply(p, x) * 3.0)(model.params, x)
    assert set(ex.grads) == set(model.params)
    for path, g in oracle.items():
        np.testing.assert_allclose(ex.grads[path], g, rtol=1e-13)
    assert ex.nodes["x"].kind == "input" and not ex.nodes["x"].wrt


def test_indexing_and_constants_read_naturally():
    ex = cr.explain(lambda x: x[0] * cnp.sum(x[1:]), np.array([1.0, -2.0, 3.0]))
    assert [s.formula for s in ex.steps[:2]] == ["u = x[0] = 1", "v = x[1:] = [-2, 3]"]
    np.testing.assert_allclose(ex.grads["x"], [1.0, 1.0, 1.0])


def test_dict_inputs_are_named_by_key():
    ex = cr.explain(lambda p: p["a"] * p["b"], {"a": 2.0, "b": 3.0})
    assert ex.grads == {"a": pytest.approx(3.0), "b": pytest.approx(2.0)}


# -- renderers ---------------------------------------------------------------------------

def test_latex(seed_ex):
    tex = seed_ex.latex()
    assert tex.startswith(r"\begin{align*}") and tex.endswith(r"\end{align*}")
    assert r"v &= e^{u} = 7.389" in tex
    assert r"\bar{u} &\mathrel{+}= \bar{v}\,\frac{\partial v}{\partial u} = 1 \cdot e^{u} = 7.389" in tex


def test_latex_lines_parse_as_mathematics():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    from chainrule.explain.cli import tour_explanations
    parser = mathtext.MathTextParser("agg")
    rng = np.random.default_rng(0)
    exs = [ex for _, ex in tour_explanations()] + [
        cr.explain(_f_matmul, rng.normal(size=(2, 3)), rng.normal(size=3), rng.normal(size=(2, 1))),
        cr.explain(lambda x: cnp.square(cnp.sin(x)) + cnp.log1p(x) / cnp.sqrt(x), 0.7)]
    for ex in exs:
        for line in ex.latex().splitlines()[1:-1]:
            # matplotlib's mathtext has no \mathrel or \textstyle; everything else must parse
            math = line.replace("&", "").removesuffix(r" \\").replace(r"\mathrel{+}=", "+=")
            parser.parse("$" + math.replace(r"\textstyle", "") + "$", dpi=72)


def test_dot(seed_ex):
    dot = seed_ex.dot()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for edge in ('"x" -> "u" [label="∂u/∂x = y"', '"y" -> "u"', '"u" -> "v" [label="∂v/∂u = exp(u)"',
                 '"v" -> "L"', '"w" -> "L"'):
        assert edge in dot


def test_svg_is_well_formed_with_every_node_and_edge(seed_ex):
    root = ET.fromstring(seed_ex.svg())
    ns = "{http://www.w3.org/2000/svg}"
    nodes = root.findall(f"{ns}g")
    assert sorted(g.get("data-name") for g in nodes) == sorted(["x", "y", "w", "u", "v", "L"])
    assert len(root.findall(f"{ns}path")) == 5
    texts = "".join(t.text or "" for t in root.iter(f"{ns}text"))
    assert "7.389" in texts and "x̄ = 14.78" in texts


def test_html_is_self_contained(seed_ex):
    page = seed_ex.html()
    assert page.startswith("<!DOCTYPE html>")
    for word in ("Forward step", "Backward step", "Back", "Reset", "<svg", "<script>"):
        assert word in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "<div" in seed_ex._repr_html_() and "<!DOCTYPE" not in seed_ex._repr_html_()


def test_save_by_extension(seed_ex, tmp_path):
    for ext, start in ((".html", "<!DOCTYPE html>"), (".svg", "<svg"), (".dot", "digraph"),
                       (".tex", r"\begin{align*}"), (".txt", "Inputs: x = 1")):
        path = seed_ex.save(tmp_path / f"steps{ext}")
        assert open(path, encoding="utf-8").read().startswith(start)
    with pytest.raises(ValueError, match=r"\.html"):
        seed_ex.save(tmp_path / "steps.pdf")


# -- errors ------------------------------------------------------------------------------

def test_errors_say_what_to_do():
    with pytest.raises(ValueError, match="reduce it"):
        cr.explain(lambda x: x * 2.0, np.ones(3))
    with pytest.raises(ValueError, match="does not depend"):
        cr.explain(lambda x: 1.0, 2.0)
    with pytest.raises(TypeError, match="floating-point"):
        cr.explain(lambda n: n * 2, 3)
    with pytest.raises(ValueError, match="unchanged"):
        cr.explain(lambda x: x, 2.0)
    with pytest.raises(ValueError, match="matches none"):
        cr.explain(seed_L, 1.0, 2.0, 3.0, wrt="z")
    with pytest.raises(ValueError, match="wrt='typo' matches none"):
        cr.explain(seed_L, 1.0, 2.0, 3.0, wrt=("x", "typo"))


def test_a_real_cr_nn_model_when_present():
    import importlib
    nn = importlib.import_module("chainrule.nn")
    if not hasattr(nn, "MLP"):
        pytest.skip("cr.nn.MLP is not in this tree yet (the stand-in above covers the contract)")
    model = nn.MLP([1, 2, 1], activation="tanh")
    x = np.array([0.8])
    ex = cr.explain(lambda m, x: cnp.sum((m(x) - 0.5) ** 2) / 2, model, x, wrt="m")
    params = {path: np.array(t.detach().numpy()) for path, t in model.named_parameters()}
    oracle = cr.grad(lambda p: cnp.sum((model.apply(p, x) - 0.5) ** 2) / 2)(params)
    assert list(ex.grads) == list(params)
    for path, g in oracle.items():
        np.testing.assert_allclose(ex.grads[path], g, rtol=1e-12)


# -- edge cases -------------------------------------------------------------------------

@pytest.mark.parametrize("f", [lambda x, y: x * 2.0, lambda x, y: cnp.sin(x) * cr.stop_gradient(y * x)],
                         ids=["unused", "stop_gradient"])
def test_an_input_no_adjoint_reaches_has_gradient_zero(f):
    ex = cr.explain(f, 1.0, 2.0)
    assert float(ex.grads["y"]) == 0.0 == float(cr.grad(f, argnums=1)(1.0, 2.0))
    text = str(ex)
    assert "∂f/∂y = 0" in text and "None" not in text
    assert "y: no differentiable path to f, so its gradient is 0" in text
    assert "None" not in ex.latex()


def test_an_unused_array_input_has_a_zero_array_gradient():
    ex = cr.explain(lambda x, y: cnp.sum(x), np.ones(2), np.ones((2, 3)))
    assert ex.grads["y"].shape == (2, 3) and not ex.grads["y"].any()


def test_integer_arguments_are_listed_as_constants():
    ex = cr.explain(lambda x, n: x ** n, 1.5, 3)
    assert str(ex).splitlines()[0] == "Inputs: x = 1.5; not differentiated (integers): n = 3"
    assert list(ex.grads) == ["x"]


def test_explain_inside_a_transformation_is_refused_clearly():
    with pytest.raises(TypeError, match="call it outside transformations"):
        cr.grad(lambda x: cr.explain(lambda y: y * x, 1.0).value)(2.0)
    with pytest.raises(TypeError, match="call it outside transformations"):
        cr.vmap(lambda x: cr.explain(lambda y: y * 2.0, x).value)(np.ones(3))


def test_float32_steps_keep_the_dtype():
    x = np.array([0.5, 1.0], np.float32)
    ex = cr.explain(lambda x: cnp.sum(cnp.sin(x) * 2), x)
    assert ex.grads["x"].dtype == np.float32
    np.testing.assert_allclose(ex.grads["x"], cr.grad(lambda x: cnp.sum(cnp.sin(x) * 2))(x))


def test_parameters_named_like_intermediates_never_share_a_name():
    ex = cr.explain(lambda u, v, p: cnp.sin(u) * v + p * u, 1.0, 2.0, 3.0)
    forward = [s.node for s in ex.steps if s.phase == "forward"]
    assert not set(forward) & {"u", "v", "p"}
    assert len(set(forward)) == len(forward)


# -- names and drawing --------------------------------------------------------------------

def test_no_intermediate_shares_the_initial_of_a_longer_input_name():
    from chainrule.explain.cli import tour_explanations
    _, ex = tour_explanations()[2]  # inputs w11, b1, w12, b2, wo1, wo2, bo
    inner = [n.name for n in ex.nodes.values() if n.kind == "intermediate"]
    assert not {"b", "w"} & set(inner)


def test_adjoint_names_agree_across_text_and_latex():
    from chainrule.explain.notation import tex, texbar
    assert (bar("w11"), texbar("w11")) == ("w̄11", r"\bar{w}_{11}")
    assert (bar("b_1"), texbar("b_1")) == ("b̄_1", r"\bar{b}_{1}")
    assert (bar("bo"), texbar("bo")) == ("b̅o̅", r"\overline{\mathrm{bo}}")
    assert (bar("wo2"), texbar("wo2"), tex("wo2")) == ("w̅o̅2", r"\overline{\mathrm{wo}}_{2}", r"\mathrm{wo}_{2}")
    assert (bar("fc.weight"), texbar("fc.weight")) == ("fc.weight.grad", r"\mathrm{fc.weight.grad}")


def _svg_texts(ex):
    root = ET.fromstring(ex.svg())
    ns = "{http://www.w3.org/2000/svg}"
    return root, ns


@pytest.mark.parametrize("seed", [0, 127, 204])  # 127 and 204 give adjoints too long for the widest box
def test_boxes_are_wide_enough_for_a_long_parameter_names_adjoint(seed):
    from chainrule.explain.notation import width
    from chainrule.explain.svg import CHAR_W
    np.random.seed(seed)
    m = cr.nn.MLP([2, 3, 1])
    ex = cr.explain(lambda model, x: cnp.sum(model(x) ** 2), m, np.array([[0.5, -1.0]]))
    root, ns = _svg_texts(ex)
    box_w = float(root.find(f".//{ns}rect[@rx]").get("width"))
    for g in root.iter(f"{ns}g"):
        for t in g.iter(f"{ns}text"):
            assert 10 + CHAR_W * width(t.text or "") <= box_w, t.text
    adj = [t.text for t in root.iter(f"{ns}text") if t.get("class") == "adj" and t.text]
    assert ".grad = 3×1" in " ".join(adj)  # the box's title names the weight; its adjoint line stays short


def test_edge_labels_stay_inside_the_drawing():
    from chainrule.explain.notation import width
    from chainrule.explain.svg import LABEL_W
    m = cr.nn.MLP([2, 3, 1])
    ex = cr.explain(lambda model, x: cnp.sum(model(x) ** 2), m, np.array([[0.5, -1.0]]))
    root, ns = _svg_texts(ex)
    w = float(root.get("width"))
    for t in root.iter(f"{ns}text"):
        if t.get("class") == "elabel":
            x, anchor, wide = float(t.get("x")), t.get("text-anchor"), LABEL_W * width(t.text)
            left = {"start": x, "middle": x - wide / 2, "end": x - wide}[anchor]
            assert 0 <= left and left + wide <= w, t.text


def test_an_edge_that_skips_layers_goes_around_the_boxes_between():
    def chain(x):
        for _ in range(6):
            x = cnp.sin(x) * 1.01 + x
        return x
    from chainrule.explain.svg import _blocked, box_width, layout
    ex = cr.explain(chain, 0.3)
    pos, _, _, across = layout(ex, box_width(ex))
    edges = [(i, n.name) for n in ex.nodes.values() for i in n.inputs]
    blocked = _blocked(pos, box_width(ex), edges, across)
    skips = [e for e in edges if e in blocked]
    assert skips  # x feeds the add three layers down
    svg = ex.svg()
    for src, dst in skips:  # drawn from the source's side to the target's side, not straight down through boxes
        ids = {name: f"n{k}" for k, name in enumerate(ex.nodes)}
        path = svg.split(f'data-from="{ids[src]}" data-to="{ids[dst]}" d="M')[1].split('"')[0]
        (x0, _), (x3, _) = [tuple(map(float, p.split(","))) for p in (path.split()[0], path.split()[-1])]
        bw = box_width(ex)
        assert x0 == pos[src][0] + bw and x3 == pos[dst][0] + bw + 2


def test_page_title_of_a_lambda_and_single_axis_reductions():
    ex = cr.explain(lambda a, B: cnp.sum(cnp.mean(a * B, axis=1)), np.ones(3), np.ones((2, 3)))
    assert ex.title == "lambda a, B"
    assert "<h1>lambda a, B</h1>" in ex.html().replace("&lt;", "<")
    assert ex.steps[1].formula.startswith("v = mean(u, axis=1)")
    assert "ū += v̄ · 1/3  (spread to 2×3)" in ex.steps[4].formula


def test_an_input_named_f_is_not_overwritten_by_the_output():
    f = lambda f, x: cnp.sin(f) * x  # noqa: E731
    ex = cr.explain(f, 1.0, 2.0)
    assert ex.output == "L" and set(ex.grads) == {"f", "x"}
    assert float(ex.grads["f"]) == pytest.approx(float(cr.grad(f)(1.0, 2.0)))
    with pytest.raises(ValueError, match="output='x' is also the name of an input"):
        cr.explain(lambda x, y: x * y, 1.0, 2.0, output="x")


def test_short_constant_vectors_read_as_their_values_and_an_update_as_an_arrow():
    def f(x):
        return cnp.sum(cnp.at(cnp.zeros(3))[0].set(x) * np.array([1.0, -2.0, 3.0]))
    ex = cr.explain(f, 1.5)
    assert ex.steps[0].formula.startswith("u = [0, 0, 0] with [0] ← x")
    assert ex.steps[1].formula.startswith("v = u ⊙ [1, -2, 3]")
    assert ex.steps[4].formula.startswith("ū += v̄ ⊙ [1, -2, 3]")


def test_a_wide_array_graph_is_drawn_top_down_rather_than_shrunk_unreadably():
    from chainrule.explain.svg import PANE_W
    rng = np.random.default_rng(0)
    ex = cr.explain(lambda x, W, b: cnp.sum(cnp.tanh(x @ W + b)),
                    rng.standard_normal(3), rng.standard_normal((3, 2)), rng.standard_normal(2))
    root = ET.fromstring(ex.svg())
    assert float(root.get("width")) <= 1.4 * PANE_W
    assert 'font-family:"DejaVu Sans"' in ex.html().split("</style>")[0].split("body{")[1]


def test_a_models_batch_output_suggests_explaining_a_loss():
    with pytest.raises(ValueError, match=r"shape \(4, 1\).*explain a loss of it instead"):
        cr.explain(cr.nn.MLP([2, 3, 1]), np.ones((4, 2)))


def test_custom_rules_and_checkpoints_are_named_after_the_users_function():
    myf = _sin_with_a_wrong_rule()
    ex = cr.explain(lambda x: myf(x) * 2.0, 1.0)
    assert ex.steps[0].formula == "u = myf(x)  [custom_vjp] = myf(1) = 0.8415"
    assert ex.steps[-1].formula.startswith("x̄ += custom_vjp rule of myf applied to ū = 200")

    def body(x):
        return cnp.sin(x) * x
    ex = cr.explain(lambda x: cr.checkpoint(body)(x) * 2.0, 1.0)
    assert ex.steps[-1].formula.startswith("x̄ += vjp of body (forward recomputed) applied to ū")
    assert "vjp of f" not in str(ex)


def test_a_wide_fan_out_sum_is_abbreviated():
    def f(x):
        s = 0.0
        for i in range(1, 30):
            s = s + cnp.sin(x * i)
        return s
    ex = cr.explain(f, 0.3)
    last = ex.steps[-1].formula
    assert "… (29 terms)" in last and len(last) < 160
    assert float(ex.grads["x"]) == pytest.approx(float(cr.grad(f)(0.3)))
    assert last.endswith(f"= {float(ex.grads['x']):.4g}   ⇒ ∂f/∂x = {float(ex.grads['x']):.4g}")


def test_greek_parameter_names_in_text_and_latex():
    ex = cr.explain(lambda θ, α: cnp.sin(θ) * α, 1.0, 2.0)
    assert "θ̄ += ū · ∂u/∂θ" in str(ex) and "ᾱ += f̄ · ∂f/∂α" in str(ex)
    latex = ex.latex()
    assert r"\bar{\theta} &\mathrel{+}=" in latex and r"\cos \theta" in latex
    assert "θ" not in latex and "α" not in latex  # pdflatex reads no Greek characters


def test_inputs_left_out_of_wrt_are_said_to_be_held_constant():
    ex = cr.explain(lambda x, y: x * y, 1.0, 2.0, wrt="y")
    assert str(ex).splitlines()[-1] == "(x: held constant, not differentiated (wrt=))"


def test_a_boolean_flag_is_not_listed_as_an_integer():
    ex = cr.explain(lambda x, flag: x * 2.0 if flag else x, 1.0, True)
    assert str(ex).splitlines()[0] == "Inputs: x = 1"


def test_a_where_condition_is_never_named_like_an_input():
    ex = cr.explain(lambda x, mask: cnp.sum(cnp.where(x > 0, x, mask)), np.array([1.0, -1.0]), np.ones(2))
    assert ex.steps[0].formula.startswith("u = where(cond, x, mask)")


def test_a_closed_over_models_parameters_ask_for_the_model_as_an_input():
    m = cr.nn.MLP([2, 3, 1])
    with pytest.raises(TypeError, match=r"pass them, or the model: cr.explain\(lambda model, x"):
        cr.explain(lambda x: cnp.sum(m(x)), np.array([0.5, -1.0]))
    ex = cr.explain(lambda model, x: cnp.sum(model(x)), m, np.array([0.5, -1.0]))
    assert "layers.0.weight" in ex.grads


def test_inputs_left_out_of_wrt_are_drawn_as_constants():
    svg = cr.explain(lambda x, w: cnp.tanh(w * x), 0.8, 0.5, wrt=["w"]).svg()
    assert "x (constant)" in svg and "w (input)" in svg
    assert "(constant)" not in cr.explain(lambda x, w: cnp.tanh(w * x), 0.8, 0.5).svg()


def test_the_tour_network_names_its_training_example():
    from chainrule.explain.cli import tour_explanations
    ex = tour_explanations()[2][1]
    text = str(ex)
    assert "u = w11 · x " in text and "− target" in text
    assert set(ex.grads) == {"w11", "b1", "w12", "b2", "wo1", "wo2", "bo"}


def test_attribute_of_an_operand_in_a_formula_keeps_its_name():
    text = str(cr.explain(lambda x: cnp.sum(cnp.reshape(x, (4,)) * 2.0), np.ones((2, 2))))
    assert "reshape(ū, x.shape)" in text and ".(4,)" not in text


def test_mean_reads_one_over_the_count_averaged():
    text = str(cr.explain(lambda x: cnp.sum(cnp.mean(x, axis=0)), np.ones((3, 2))))
    assert "· 1/3" in text


def test_numeric_forward_steps_keep_their_parentheses():
    ex = cr.explain(lambda x: cnp.sum(cnp.reshape(x, (1, 1))) + cnp.exp(-x), 1.0)
    for s in ex.steps:
        if s.phase == "forward":
            assert s.formula.count("(") == s.formula.count(")"), s.formula
    assert "reshape(1, shape=(1, 1)) = 1" in str(ex)


def test_svg_blocked_edges_match_the_brute_force_test():
    # the grid index finds exactly the edges a test against every box finds (the oracle below)
    from chainrule.explain.svg import BOX_H, _blocked

    def brute(pos, box_w, src, dst, across):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        a = (x1 + box_w, y1 + BOX_H / 2) if across else (x1 + box_w / 2, y1 + BOX_H)
        b = (x2, y2 + BOX_H / 2) if across else (x2 + box_w / 2, y2)
        lo_x, hi_x, lo_y, hi_y = min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]), max(a[1], b[1])
        near = [(x, y) for name, (x, y) in pos.items() if name not in (src, dst)
                and x <= hi_x and x + box_w >= lo_x and y <= hi_y and y + BOX_H >= lo_y]
        pts = [(a[0] + (b[0] - a[0]) * t / 16, a[1] + (b[1] - a[1]) * t / 16) for t in range(1, 16)]
        return any(x <= px <= x + box_w and y <= py <= y + BOX_H for x, y in near for px, py in pts)

    rng = np.random.default_rng(0)
    for across in (True, False):
        for trial in range(5):
            names = [f"n{i}" for i in range(60)]
            pos = {m: (float(rng.uniform(-50, 900)), float(rng.uniform(-40, 700))) for m in names}
            edges = [(names[i], names[j]) for i, j in rng.integers(0, 60, size=(120, 2)) if i != j]
            box_w = float(rng.uniform(60, 160))
            expect = {e for e in edges if brute(pos, box_w, *e, across)}
            assert _blocked(pos, box_w, edges, across) == expect


def test_big_graphs_are_drawn_only_when_asked():
    """Above MAX_DRAWN_NODES the drawing views refuse, saying what to do; the text log has no limit."""
    from chainrule.explain import core

    def f(x):
        for _ in range(30):
            x = cnp.sin(x) * 0.9
        return x
    ex = cr.explain(f, 0.5)
    old = core.MAX_DRAWN_NODES
    core.MAX_DRAWN_NODES = 20
    try:
        for view in (ex.svg, ex.html):
            with pytest.raises(ValueError, match=r"the graph has 61 nodes, more than ex\.(svg|html)\(\) draws "
                                                 r"\(max_nodes=20\).*max_nodes=float\('inf'\)"):
                view()
        assert ex.svg(max_nodes=100).startswith("<svg") and ex.html(max_nodes=float("inf")).startswith("<!DOCTYPE")
        assert ex._repr_html_() is None and "Forward pass" in str(ex)
    finally:
        core.MAX_DRAWN_NODES = old
    assert ex._repr_html_().startswith("<style>")
