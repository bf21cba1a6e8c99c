"""``cr.autograd.grad``: gradients of tape Tensors, without touching ``.grad``."""
from __future__ import annotations

from typing import Any

from chainrule import forward_ad
from chainrule._core.primitive import TRACER_TYPES
from chainrule._interpreters.reverse import Tensor, _plain, _seed, backward_pass

__all__ = ["grad"]


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple[Any, ...]:
    """``d outputs / d inputs``, as PyTorch's ``torch.autograd.grad``.

    ``outputs`` and ``inputs`` are Tensors or sequences of them; the result
    is a tuple with one gradient per input.  ``grad_outputs`` seeds each
    output (needed for non-scalar outputs).  ``create_graph=True`` records
    the computation, so the result can be differentiated again.  An input
    that does not reach the outputs raises, unless ``allow_unused=True``
    (then its gradient is ``None``).

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> (g,) = cr.autograd.grad(x ** 3, x, create_graph=True)
    >>> g, cr.autograd.grad(g, x)
    (tensor(12., grad_fn=<multiply>), (tensor(12.),))
    """
    outputs = [outputs] if type(outputs) in TRACER_TYPES else list(outputs)
    inputs = [inputs] if type(inputs) in TRACER_TYPES else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif type(grad_outputs) in TRACER_TYPES or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"autograd.grad: {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    if forward_ad.involves_duals(outputs, inputs, grad_outputs):  # forward-over-reverse
        return forward_ad.grad_of_duals(grad, outputs, inputs, grad_outputs, retain_graph, create_graph,
                                        allow_unused)
    for k, t in enumerate(list(outputs) + list(inputs)):
        if not isinstance(t, Tensor):
            raise TypeError(f"autograd.grad: outputs and inputs must be tape Tensors, got {type(t).__name__}")
        if t._level != 0:
            raise TypeError("autograd.grad: got a value traced by cr.grad/cr.vjp, not a tape Tensor; "
                            "inside a transform, nest cr.grad/cr.vjp instead")
    for k, t in enumerate(inputs):
        if not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {k} does not require grad")
    roots, cts = [], []
    for k, (o, g) in enumerate(zip(outputs, grad_outputs)):
        if not o.requires_grad:
            raise RuntimeError(f"autograd.grad: output {k} does not require grad and has no graph")
        roots.append(o)
        cts.append(_seed(o, g, f"autograd.grad (output {k})"))
    retain = create_graph if retain_graph is None else retain_graph
    grads = backward_pass(roots, cts, retain_graph=retain, create_graph=create_graph, capture=set(inputs))
    result = []
    for k, t in enumerate(inputs):
        g = grads.get(t)
        if g is None and not allow_unused:
            raise RuntimeError(f"autograd.grad: input {k} was not used in the graph of the outputs; "
                               f"pass allow_unused=True to get None for it")
        result.append(g if g is None or type(g) is Tensor else _plain(g))
    return tuple(result)
