"""The rest of Equinox's filtered family: jvp, vjp, Jacobians, Hessian, checkpoint,
eval_shape and closure conversion, on any pytree (ours, Equinox's, plain).

The rule is the one ``filter_grad`` follows: inexact arrays are differentiated
(or traced, or abstracted), every other leaf is held static and passed through.
Non-array outputs travel back in a ``Static``, a pytree node without
leaves whose value rides in the treedef.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

import jax
import jax.numpy as jnp

from ._compiled import owner_and_self
from ._dataclass import pytree_dataclass
from ._field import field
from ._filters import combine, is_array, is_inexact_array, partition
from ._static import Static, join_static, split_static
from ._static_key import WithStatic, abstract_key, rebuild_arguments, split_output
from ._tree import tree_equal
from ._wrapper import FunctionWrapper, transform_wrapper, wrap


def _is_none(x: Any) -> bool:
    return x is None


def split_aux(
    out: Any, kind: str, fun: Callable, value: str = "output"
) -> tuple[Any, tuple[Any, Static]]:
    """``(value, aux)`` from the output of a ``has_aux=True`` function: any 2-sequence,
    as JAX takes. The aux travels as its arrays (traced outputs, so they come back
    concrete) and a ``Static`` of the rest; ``join_aux`` puts it together."""
    if isinstance(out, str) or not isinstance(out, Sequence) or len(out) != 2:
        raise TypeError(
            f"{kind}({getattr(fun, '__qualname__', fun)!s}, has_aux=True): the function "
            f"must return a pair ({value}, aux), got {type(out).__name__}."
        )
    main, aux = out
    return main, split_static(aux)


def join_aux(aux: tuple[Any, Static]) -> Any:
    return join_static(*aux)


def _is_struct(x: Any) -> bool:
    return is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


# --- forward and reverse mode -------------------------------------------------------


def filter_jvp(
    fn: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any], **kwargs: Any
) -> tuple[Any, Any]:
    """``(fn(*primals), tangent_out)``: ``jax.jvp`` where ``tangents`` is ``None``
    wherever a primal leaf is not differentiated (Equinox's ``filter_jvp``).

    Differs from ``jax.jvp``: primals may hold any leaves; a leaf whose tangent is
    ``None`` is static. Output tangents are ``None`` for non-array and
    non-inexact outputs; an inexact output that does not depend on the inputs
    gets a zero tangent (Equinox gives ``None``: telling the two apart needs
    JAX internals).

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> def f(x, tag):
        ...     return x * 2, tag
        >>> out, t = ptc.filter_jvp(f, (jnp.ones(2), "s"), (jnp.ones(2), None))
        >>> t
        (Array([2., 2.], dtype=float32), None)
    """
    structure = jax.tree_util.tree_structure(primals, is_leaf=_is_none)
    if structure != jax.tree_util.tree_structure(tangents, is_leaf=_is_none):  # type: ignore[operator]
        raise ValueError(
            "filter_jvp: primals and tangents must have the same structure, with None "
            "as the tangent of every leaf that is not differentiated."
        )
    static_primals, dynamic_primals = partition(
        primals, jax.tree_util.tree_map(_is_none, tangents, is_leaf=_is_none)
    )
    flat_dynamic, treedef = jax.tree_util.tree_flatten(dynamic_primals)
    flat_tangents = jax.tree_util.tree_leaves(tangents)

    def flat_fn(*flat: Any) -> tuple[Any, tuple[Any, Static]]:
        dynamic = jax.tree_util.tree_unflatten(treedef, list(flat))
        out = fn(*combine(dynamic, static_primals), **kwargs)
        inexact, rest = partition(out, is_inexact_array)
        return inexact, split_static(rest)

    inexact, tangent_out, (arrays, static) = jax.jvp(
        flat_fn, flat_dynamic, flat_tangents, has_aux=True
    )
    return combine(inexact, arrays, static.value), tangent_out


def filter_vjp(fun: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """``(out, vjp_fn)`` (and ``aux``): ``jax.vjp`` over the inexact arrays of ``primals``.

    Differs from ``jax.vjp``: primals and outputs may hold any leaves. ``vjp_fn``
    takes cotangents for the inexact array outputs (``None`` elsewhere) and
    returns cotangents shaped like ``filter(primals, is_inexact_array)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> out, vjp = ptc.filter_vjp(lambda x, tag: x * 3, jnp.ones(2), "tag")
        >>> vjp(jnp.ones(2))
        (Array([3., 3.], dtype=float32), None)
    """
    diff, nondiff = partition(primals, is_inexact_array)

    def diff_fun(*diff_primals: Any) -> tuple[Any, tuple[Any, Any, Any]]:
        out = fun(*combine(diff_primals, nondiff))
        out, aux = split_aux(out, "filter_vjp", fun) if has_aux else (out, None)
        diff_out, nondiff_out = partition(out, is_inexact_array)
        return diff_out, (*split_static(nondiff_out), aux)

    diff_out, vjp_fn, (arrays, static, aux) = jax.vjp(diff_fun, *diff, has_aux=True)
    out = combine(diff_out, arrays, static.value)
    return (out, vjp_fn, join_aux(aux)) if has_aux else (out, vjp_fn)


@transform_wrapper
@pytree_dataclass
class _JacobianWrapper(FunctionWrapper):
    has_aux: bool = field(static=True)
    reverse: bool = field(static=True)

    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        diff_x, static_x = partition(x, is_inexact_array)

        def of_diff(diff: Any) -> tuple[Any, Any]:
            out = self.fun(combine(diff, static_x), *args, **kwargs)
            if not self.has_aux:
                return out, None
            return split_aux(out, "filter_jacrev" if self.reverse else "filter_jacfwd", self.fun)

        jacobian = jax.jacrev if self.reverse else jax.jacfwd
        out, aux = jacobian(of_diff, has_aux=True)(diff_x)
        return (out, join_aux(aux)) if self.has_aux else out


def filter_jacfwd(fun: Callable[..., Any], has_aux: bool = False) -> Callable[..., Any]:
    """Forward-mode Jacobian with respect to the inexact arrays of the first argument.

    Differs from ``jax.jacfwd``: the first argument may hold any leaves (the
    others get no Jacobian, ``None`` in its structure); ``aux`` may hold any leaves.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.filter_jacfwd(lambda p: p["w"] * 2)({"w": jnp.ones(2), "tag": "t"})["w"]
        Array([[2., 0.],
               [0., 2.]], dtype=float32)
    """
    return wrap(_JacobianWrapper, fun, "filter_jacfwd", has_aux=has_aux, reverse=False)


def filter_jacrev(fun: Callable[..., Any], has_aux: bool = False) -> Callable[..., Any]:
    """Reverse-mode Jacobian with respect to the inexact arrays of the first argument.

    Differs from ``jax.jacrev`` as ``filter_jacfwd`` does from ``jax.jacfwd``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.filter_jacrev(lambda x: x**2)(jnp.arange(2.0))
        Array([[0., 0.],
               [0., 2.]], dtype=float32)
    """
    return wrap(_JacobianWrapper, fun, "filter_jacrev", has_aux=has_aux, reverse=True)


def filter_hessian(fun: Callable[..., Any], has_aux: bool = False) -> Callable[..., Any]:
    """Hessian (``jacfwd`` of ``jacrev``) with respect to the first argument's inexact arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.filter_hessian(lambda x: jnp.sum(x**3))(jnp.ones(2))
        Array([[6., 0.],
               [0., 6.]], dtype=float32)
    """
    return filter_jacfwd(filter_jacrev(fun, has_aux=has_aux), has_aux=has_aux)


# --- remat and abstract evaluation ----------------------------------------------------


@transform_wrapper
@pytree_dataclass
class _CheckpointWrapper(FunctionWrapper):
    prevent_cse: bool = field(static=True)
    policy: Callable[..., bool] | None = field(static=True)

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        dynamic, static = partition((args, kwargs), is_array)

        @functools.partial(
            jax.checkpoint, prevent_cse=self.prevent_cse, policy=self.policy, static_argnums=(0,)
        )
        def checkpointed(static_box: Static, dynamic: Any) -> Any:
            call_args, call_kwargs = combine(dynamic, static_box.value)
            return split_static(self.fun(*call_args, **call_kwargs))

        out, static_out = checkpointed(Static(static), dynamic)
        return combine(out, static_out.value)


def filter_checkpoint(
    fun: Callable[..., Any] | None = None,
    *,
    prevent_cse: bool = True,
    policy: Callable[..., bool] | None = None,
) -> Any:
    """``jax.checkpoint`` (rematerialisation) of a function of whole models.

    Differs from ``jax.checkpoint``: arguments and outputs may hold any leaves;
    non-array ones are static. Works as a method decorator.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> layer = ptc.filter_checkpoint(lambda p, x: jnp.sin(p["w"] * x).sum())
        >>> round(float(jax.grad(lambda w: layer({"w": w, "tag": "t"}, jnp.ones(2)))(1.0)), 4)
        1.0806
    """
    if fun is None:
        return functools.partial(filter_checkpoint, prevent_cse=prevent_cse, policy=policy)
    return wrap(
        _CheckpointWrapper, fun, "filter_checkpoint", prevent_cse=prevent_cse, policy=policy
    )


def filter_eval_shape(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fun(*args, **kwargs)`` evaluated abstractly: arrays come back as
    ``jax.ShapeDtypeStruct``, everything else as it is.

    Differs from ``jax.eval_shape``: ``fun`` (a model too), arguments and outputs
    may hold any leaves; arguments may hold ``jax.ShapeDtypeStruct``. The usual
    way to build a model without allocating it, e.g. to plan its sharding.
    Traces are cached like ``filter_jit``'s (same static values and shapes:
    no retrace); Equinox traces on every call.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.filter_eval_shape(lambda n, name: (jnp.zeros((n, 3)), name), 4, "w")
        (ShapeDtypeStruct(shape=(4, 3), dtype=float32), 'w')
    """
    owner, bound_self = owner_and_self(fun)
    per_key = _eval_shape_cache(owner)
    leaves, treedef = jax.tree_util.tree_flatten((bound_self + args, kwargs))
    dynamic, key = abstract_key(leaves, treedef)
    evaluation = None
    try:
        evaluation = None if per_key is None else per_key.get(key)
    except TypeError:  # an unhashable static leaf: no cache, trace this once
        per_key = None
    if per_key is None:
        return _uncached_eval_shape(fun, args, kwargs)
    if evaluation is None:
        evaluation = per_key[key] = _evaluation(weakref.ref(owner), key)
    out = evaluation.eval_shape(dynamic)
    return out.rebuild() if type(out) is WithStatic else out


# Per underlying function (filter_jit's cache-identity rule, ``owner_and_self``),
# held weakly: static key -> a ``jax.jit`` of the function for that key. The
# statics live in that jit's closure, not in a JAX cache key (JAX keeps
# ``static_argnums`` values in caches of its own for as long as the process
# lives), so all of it, closure and statics included, goes when the user drops
# the function, as with ``jax.eval_shape``.
EVAL_SHAPE_CACHES: weakref.WeakKeyDictionary[Callable, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _eval_shape_cache(owner: Callable) -> dict[Any, Any] | None:
    """``owner``'s evaluations by static key, or ``None`` for a callable that compares
    by value or cannot be weakly referenced (then nothing is cached)."""
    if type(owner).__eq__ is not object.__eq__:
        return None
    try:
        return EVAL_SHAPE_CACHES.setdefault(owner, {})
    except TypeError:
        return None


def _evaluation(owner_ref: weakref.ref[Callable], key: Any) -> Any:
    def evaluate(dynamic: list) -> Any:
        args, kwargs = rebuild_arguments(dynamic, key)
        owner = cast(Callable, owner_ref())  # alive: filter_eval_shape holds it
        return split_output(owner(*args, **kwargs))

    return jax.jit(evaluate)


def _uncached_eval_shape(fun: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    dynamic, static = partition((fun, args, kwargs), _is_struct)

    def abstract(dynamic: Any) -> Any:
        call, call_args, call_kwargs = combine(dynamic, static)
        return split_static(call(*call_args, **call_kwargs))

    out, static_out = jax.eval_shape(abstract, dynamic)
    return combine(out, static_out.value)


# --- closure conversion ---------------------------------------------------------------


@pytree_dataclass
class _ClosureConverted:
    """``fn`` with the arrays it closes over lifted into ``consts`` (children)."""

    converted: Callable = field(static=True)
    consts: tuple
    in_dynamic: Any = field(static=True)  # a tuple of ShapeDtypeStructs and a treedef
    in_static: Static = field(static=True)  # (args, kwargs) may hold dicts
    name: str = field(static=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dynamic, static = partition((args, kwargs), _is_struct)
        leaves, treedef = jax.tree_util.tree_flatten(dynamic)
        shapes = tuple(jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in leaves)
        if (shapes, treedef) != self.in_dynamic or not tree_equal(static, self.in_static.value):
            raise ValueError(
                f"filter_closure_convert({self.name}): called with arguments whose "
                f"structure, shapes, dtypes or static values differ from the example "
                f"arguments it was converted with. Convert it again for these."
            )
        out, static_out = self.converted(leaves, *self.consts)
        return combine(out, static_out.value)


def filter_closure_convert(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn`` as a pytree whose children are the arrays it closes over.

    As ``jax.closure_convert``, for use inside custom derivatives, where closed
    over tracers must be explicit; arguments and outputs may hold any leaves.
    The result is called with arguments like the example ``args``/``kwargs``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> w = jnp.ones(2)
        >>> f = ptc.filter_closure_convert(lambda x, tag: x * w, jnp.ones(2), "t")
        >>> f(jnp.arange(2.0), "t")
        Array([0., 1.], dtype=float32)
    """
    dynamic, static = partition((args, kwargs), _is_struct)
    leaves, treedef = jax.tree_util.tree_flatten(dynamic)

    def flat_fn(flat: list) -> Any:
        call_args, call_kwargs = combine(jax.tree_util.tree_unflatten(treedef, flat), static)
        return split_static(fn(*call_args, **call_kwargs))

    shapes = tuple(jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)) for x in leaves)
    converted, consts = jax.closure_convert(flat_fn, list(shapes))
    name = getattr(fn, "__qualname__", type(fn).__qualname__)
    return _ClosureConverted(converted, tuple(consts), (shapes, treedef), Static(static), name)
