"""``filter_grad`` and ``filter_value_and_grad``: differentiate the inexact arrays only.

The returned wrappers are themselves pytree dataclasses, so under
``filter_jit`` a rebuilt ``filter_grad(f)`` hits the same compile cache, and a
``fun`` that is a pytree has its arrays traced rather than baked in. A plain
function is a *static* field (see ``_wrapper.py``), so ``filter_jit`` of a
gradient of an all-array model takes its fastest path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

import jax
import jax.numpy as jnp

from ._ad import join_aux, split_aux
from ._dataclass import pytree_dataclass
from ._field import field
from ._filters import combine, is_inexact_array, partition
from ._wrapper import FunctionWrapper, transform_wrapper, wrap

P = ParamSpec("P")
T = TypeVar("T")
V = TypeVar("V")


def _name(fun: Callable) -> str:
    return getattr(fun, "__qualname__", None) or type(fun).__qualname__


@transform_wrapper
@pytree_dataclass
class _GradWrapper(FunctionWrapper):
    has_aux: bool = field(static=True)
    with_value: bool = field(static=True)
    #: More options for ``jax.value_and_grad`` (``holomorphic``, ``allow_int``, ...).
    grad_kwargs: tuple[tuple[str, Any], ...] = field(static=True, default=())

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        kind = "filter_value_and_grad" if self.with_value else "filter_grad"
        if not args:
            raise TypeError(
                f"{kind}({_name(self.fun)}): pass the argument to differentiate as the "
                f"first positional argument; got only keyword arguments "
                f"{', '.join(map(repr, kwargs)) or '(none)'}."
            )
        x, rest = args[0], args[1:]
        diff, nondiff = partition(x, is_inexact_array)

        def differentiable(diff: Any) -> Any:
            out = self.fun(combine(diff, nondiff), *rest, **kwargs)
            if self.has_aux:
                out = split_aux(out, kind, self.fun, value="loss")
            _check_loss(kind, self.fun, out[0] if self.has_aux else out)
            return out

        grad_kwargs = dict(self.grad_kwargs)
        value, grads = jax.value_and_grad(differentiable, has_aux=self.has_aux, **grad_kwargs)(diff)
        if self.has_aux:
            value = (value[0], join_aux(value[1]))
        if self.with_value:
            return value, grads
        return (grads, value[1]) if self.has_aux else grads


def _check_loss(kind: str, fun: Callable, out: Any) -> None:
    shape = jnp.shape(out)
    if shape != ():
        raise TypeError(
            f"{kind}({_name(fun)}): the function must return a scalar loss, got shape "
            f"{shape}. Reduce it (e.g. .sum() or .mean()), or return (loss, aux) with "
            f"has_aux=True."
        )


# The gradient has the first argument's type (its non-inexact leaves are None).
@overload
def filter_grad(
    fun: Callable[Concatenate[T, P], Any], *, has_aux: Literal[False] = False, **grad_kwargs: Any
) -> Callable[Concatenate[T, P], T]: ...


@overload
def filter_grad(
    fun: Callable[Concatenate[T, P], Any], *, has_aux: Literal[True], **grad_kwargs: Any
) -> Callable[Concatenate[T, P], tuple[T, Any]]: ...


@overload
def filter_grad(
    fun: None = None, *, has_aux: bool = False, **grad_kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def filter_grad(fun: Callable | None = None, *, has_aux: bool = False, **grad_kwargs: Any) -> Any:
    """Gradient with respect to the floating-point arrays of the first argument.

    Differs from ``jax.grad``: the first positional argument may hold anything
    (arrays, integer arrays, Python numbers, strings, callables). Only its
    inexact (float/complex) array leaves are differentiated; every other leaf
    gets ``None`` in the gradient, which has the first argument's structure.
    Other arguments are passed through and not differentiated. Python floats
    are *not* differentiated (they are not arrays). With ``has_aux=True`` the
    function returns any pair ``(loss, aux)``; ``aux`` may hold any leaves and
    its arrays come back concrete. Further keyword arguments (``holomorphic``,
    ``allow_int``) go to ``jax.value_and_grad``, as in Equinox.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> def loss(params, x):
        ...     return jnp.sum(params["w"] * x) * params["scale"]
        >>> ptc.filter_grad(loss)({"w": jnp.ones(2), "scale": 2.0}, jnp.arange(2.0))
        {'scale': None, 'w': Array([0., 2.], dtype=float32)}
    """
    if fun is None:
        return functools.partial(filter_grad, has_aux=has_aux, **grad_kwargs)
    options = _grad_options(has_aux, grad_kwargs)
    return wrap(_GradWrapper, fun, "filter_grad", with_value=False, **options)


def _grad_options(has_aux: bool, grad_kwargs: dict[str, Any]) -> dict[str, Any]:
    for reserved in ("argnums", "has_aux"):
        if reserved in grad_kwargs:
            raise TypeError(
                f"filter_grad does not take {reserved}=: it differentiates the first "
                f"argument's inexact arrays; put what to differentiate there."
            )
    return {"has_aux": has_aux, "grad_kwargs": tuple(sorted(grad_kwargs.items()))}


@overload
def filter_value_and_grad(
    fun: Callable[Concatenate[T, P], V], *, has_aux: bool = False, **grad_kwargs: Any
) -> Callable[Concatenate[T, P], tuple[V, T]]: ...


@overload
def filter_value_and_grad(
    fun: None = None, *, has_aux: bool = False, **grad_kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...


def filter_value_and_grad(
    fun: Callable | None = None, *, has_aux: bool = False, **grad_kwargs: Any
) -> Any:
    """``(value, grad)`` like ``jax.value_and_grad``, with ``filter_grad``'s rules.

    With ``has_aux=True`` it returns ``((value, aux), grad)``, as JAX does.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> value, grads = ptc.filter_value_and_grad(lambda p: jnp.sum(p[0] ** 2))(
        ...     (jnp.ones(2), "name"))
        >>> value, grads
        (Array(2., dtype=float32), (Array([2., 2.], dtype=float32), None))
    """
    if fun is None:
        return functools.partial(filter_value_and_grad, has_aux=has_aux, **grad_kwargs)
    options = _grad_options(has_aux, grad_kwargs)
    return wrap(_GradWrapper, fun, "filter_value_and_grad", with_value=True, **options)
