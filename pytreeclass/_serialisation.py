"""``tree_serialise_leaves`` / ``tree_deserialise_leaves``: Equinox's file format.

A file is the array-like leaves of a tree, in flatten order, each written with
``numpy.save`` (Python numbers as 0-d arrays); nothing else. So files written
here load in Equinox and the other way round. Static fields and other
non-array leaves are not written: they come from ``like`` when loading.

What each kind of leaf becomes, in both directions (the default filter specs):

=======================  ===============================  ================================
leaf                     written as                       read back as
=======================  ===============================  ================================
``jax.Array``            its values (a typed key: its     a ``jax.Array`` with ``like``'s
                         key data); a replicated array    sharding (committed ``like``) or
                         from this process's copy         on the default device
``ShapeDtypeStruct``     (only in ``like``)               as ``jax.Array``; its sharding
                                                          when it has one
``np.ndarray``           itself, exact dtype              ``np.ndarray``, exact dtype
numpy scalar, Python     a 0-d array                      the same type as in ``like``
``bool/int/float/...``
anything else            nothing                          ``like``'s leaf
=======================  ===============================  ================================
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from ._dtypes import is_key_dtype, short_dtype_name
from ._filters import is_array_like

PathOrFile = str | pathlib.Path | BinaryIO


@contextlib.contextmanager
def _opened(path_or_file: PathOrFile, mode: str) -> Iterator[BinaryIO]:
    if isinstance(path_or_file, str | pathlib.Path):
        path = pathlib.Path(path_or_file)
        if path.suffix == "":
            path = path.with_suffix(".eqx")  # as Equinox does
        with open(path, mode) as file:
            yield cast(BinaryIO, file)
    else:
        yield path_or_file


def _path(path: tuple) -> str:
    return jax.tree_util.keystr(path) or "the tree"


class _LeafError(ValueError):
    """Raised by the default specs, which see a leaf but not its key path; the
    traversal re-raises it as a ``ValueError`` that names the path."""

    def __init__(self, template: str):
        super().__init__(template)
        self.template = template


def default_serialise_filter_spec(f: BinaryIO, x: Any) -> None:
    """Write one leaf ``x`` to the open file ``f``, or nothing if it is not array-like.

    Equinox's function of the same name, writing the same bytes; extend it in a
    custom ``filter_spec`` (call it for the leaves you do not handle). Differs:
    a typed PRNG key is written as its key data; an array replicated across
    processes is written from this process's copy; an array *sharded* across
    processes raises, naming its key path (save those with orbax-checkpoint).

    Example:
        >>> import io, jax.numpy as jnp, numpy as np
        >>> import pytreeclass as ptc
        >>> buffer = io.BytesIO()
        >>> ptc.default_serialise_filter_spec(buffer, np.arange(3, dtype=np.int16))
        >>> _ = buffer.seek(0)
        >>> np.load(buffer)
        array([0, 1, 2], dtype=int16)
    """
    if isinstance(x, jax.Array):
        if is_key_dtype(x.dtype):
            x = jax.random.key_data(x)
        if not x.is_fully_addressable:
            if not x.is_fully_replicated:
                raise _LeafError(
                    "tree_serialise_leaves: the leaf at {path} is sharded across processes "
                    f"({x.sharding}): this process holds only part of it, and a leaves "
                    "file holds whole arrays. Save a process-sharded model with "
                    "orbax-checkpoint (orbax.checkpoint.StandardCheckpointer), which writes "
                    "each process's shards, or replicate the leaf first "
                    "(ptc.filter_shard(tree, NamedSharding(mesh, PartitionSpec())))."
                )
            x = x.addressable_data(0)  # every process holds all of it
        np.save(f, np.asarray(x), allow_pickle=False)
    elif is_array_like(x):
        np.save(f, np.asarray(x), allow_pickle=False)


def default_deserialise_filter_spec(f: BinaryIO, x: Any) -> Any:
    """Read the leaf that ``x`` (a leaf of ``like``) stands for from the open file ``f``.

    Equinox's function of the same name: arrays (and ``ShapeDtypeStruct``) come
    back as ``jax.Array``, numpy arrays as numpy arrays with their exact dtype,
    numbers as their type in ``like``; other leaves are ``x`` itself. Differs:
    a jax array is placed with ``x``'s sharding (a committed array's, or a
    ``ShapeDtypeStruct``'s), across processes too; typed PRNG keys come back
    as keys; a mismatch raises, naming the leaf's path and both shapes and dtypes.

    Example:
        >>> import io, numpy as np
        >>> import pytreeclass as ptc
        >>> buffer = io.BytesIO()
        >>> np.save(buffer, np.array(2**40 + 1))
        >>> _ = buffer.seek(0)
        >>> ptc.default_deserialise_filter_spec(buffer, np.array(0))
        array(1099511627777)
    """
    is_struct = isinstance(x, jax.ShapeDtypeStruct)
    if not (is_struct or is_array_like(x)):
        return x
    _check_npy_follows(f, x)
    loaded = np.load(f, allow_pickle=False)
    if is_struct or isinstance(x, jax.Array):
        return _as_jax_array(loaded, x)
    if isinstance(x, np.ndarray):
        return _checked(loaded, x, x.shape, x.dtype)
    if isinstance(x, np.generic):  # numpy scalar: bfloat16(1), np.float32(1)
        return type(x)(_checked(loaded, x, (), x.dtype).item())
    return type(x)(loaded.item())  # a Python number


def _checked(loaded: np.ndarray, like: Any, shape: tuple, dtype: Any) -> np.ndarray:
    if loaded.dtype.kind == "V" and loaded.dtype.itemsize == np.dtype(dtype).itemsize:
        loaded = loaded.view(dtype)  # numpy writes ml_dtypes (bfloat16, ...) as void
    if tuple(loaded.shape) != tuple(shape) or loaded.dtype != dtype:
        raise _LeafError(
            "tree_deserialise_leaves: the file does not match `like` at {path}: the file "
            f"has {short_dtype_name(loaded.dtype)}{list(loaded.shape)}, `like` has "
            f"{_describe(like)}. Pass a `like` of the saved tree's structure and dtypes."
        )
    return loaded


def _as_jax_array(loaded: np.ndarray, like: Any) -> jax.Array:
    """``loaded`` as a jax array placed as ``like`` is (a ``jax.Array`` or a struct)."""
    impl = None
    if is_key_dtype(like.dtype):
        impl_of: list[Any] = []

        def key_data(key: Any) -> Any:
            impl_of.append(jax.random.key_impl(key))
            return jax.random.key_data(key)

        expected = jax.eval_shape(key_data, like)  # abstract: nothing is computed
        loaded, impl = _checked(loaded, like, expected.shape, expected.dtype), impl_of[0]
    else:
        loaded = _checked(loaded, like, like.shape, np.dtype(like.dtype))
    if isinstance(like, Tracer) or (isinstance(like, jax.Array) and not like.committed):
        sharding = None  # uncommitted (or traced): let jit place it, as it placed `like`
    else:
        sharding = getattr(like, "sharding", None)
    if sharding is None:
        out = jnp.asarray(loaded)
    else:
        # Not device_put: this also fills a sharding that spans other processes'
        # devices, each process placing its own shards from its copy of the file.
        out = jax.make_array_from_callback(loaded.shape, sharding, lambda index: loaded[index])
    return out if impl is None else jax.random.wrap_key_data(out, impl=impl)


def _leaves_by_spec(filter_spec: Any, tree: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    """Per leaf of ``filter_spec`` (a prefix of ``tree``): its path, function and
    subtree flattened with paths; plus the treedefs that rebuild ``tree``."""
    specs, spec_def = jax.tree_util.tree_flatten_with_path(filter_spec)
    spec_def = cast(Any, spec_def)  # the stubs lack PyTreeDef.flatten_up_to
    try:
        subtrees = spec_def.flatten_up_to(tree)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"tree_(de)serialise_leaves: `filter_spec` must be a function or a pytree of "
            f"functions whose structure is a prefix of the tree's; it is not: {error}"
        ) from None
    groups = []
    for (prefix, spec), subtree in zip(specs, subtrees, strict=True):
        flat, subdef = jax.tree_util.tree_flatten_with_path(subtree, is_leaf=is_leaf)
        groups.append((prefix, spec, flat, subdef))
    return groups, spec_def


def _call_spec(spec: Callable, file: BinaryIO, path: tuple, leaf: Any) -> Any:
    try:
        return spec(file, leaf)
    except _LeafError as error:
        raise ValueError(error.template.replace("{path}", _path(path))) from None


def tree_serialise_leaves(
    path_or_file: PathOrFile,
    pytree: Any,
    filter_spec: Any = default_serialise_filter_spec,
    is_leaf: Callable[[Any], bool] | None = None,
) -> None:
    """Write the array-like leaves of ``pytree`` to a file (Equinox's format).

    Equinox's function, with its ``filter_spec`` (a function ``(file, leaf) ->
    None``, or a pytree of them that is a prefix of ``pytree``) and ``is_leaf``
    hooks. Differs: typed PRNG keys are written as their key data, and read
    back as keys; an array replicated across processes is written from this
    process's copy, and one sharded across processes raises naming its key
    path (save those with orbax-checkpoint). A path without a suffix gets
    ``.eqx``, as in Equinox.

    Example:
        >>> import io, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> buffer = io.BytesIO()
        >>> ptc.tree_serialise_leaves(buffer, {"w": jnp.ones(2), "name": "layer"})
        >>> _ = buffer.seek(0)
        >>> ptc.tree_deserialise_leaves(buffer, {"w": jnp.zeros(2), "name": "layer"})
        {'name': 'layer', 'w': Array([1., 1.], dtype=float32)}
    """
    groups, _ = _leaves_by_spec(filter_spec, pytree, is_leaf)
    with _opened(path_or_file, "wb") as file:
        for prefix, spec, flat, _ in groups:
            for path, leaf in flat:
                _call_spec(spec, file, (*prefix, *path), leaf)


def tree_deserialise_leaves(
    path_or_file: PathOrFile,
    like: Any,
    filter_spec: Any = default_deserialise_filter_spec,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """A tree like ``like`` with its array-like leaves read from a file (Equinox's format).

    ``like`` gives the structure, the static fields and the non-array leaves;
    its arrays may be ``jax.ShapeDtypeStruct`` (from ``filter_eval_shape``).
    ``filter_spec`` (a function ``(file, leaf of like) -> leaf``, or a prefix
    pytree of them) and ``is_leaf`` are Equinox's hooks. Differs from Equinox's:
    each jax array is placed with ``like``'s sharding (so a model replicated or
    sharded over a mesh comes back so, across processes too); when the file
    does not match ``like``, the error names the key path of the first leaf
    that differs, with its shape and dtype on each side (or says which side has
    leaves left over).

    Example:
        >>> import io, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> buffer = io.BytesIO()
        >>> ptc.tree_serialise_leaves(buffer, [jnp.ones(2)])
        >>> _ = buffer.seek(0)
        >>> ptc.tree_deserialise_leaves(buffer, [jnp.ones(3)])
        Traceback (most recent call last):
        ...
        ValueError: tree_deserialise_leaves: the file does not match `like` at [0]: ...
    """
    groups, spec_def = _leaves_by_spec(filter_spec, like, is_leaf)
    subtrees = []
    with _opened(path_or_file, "rb") as file:
        for prefix, spec, flat, subdef in groups:
            leaves = []
            for path, leaf in flat:
                full_path = (*prefix, *path)
                loaded = _call_spec(spec, file, full_path, leaf)
                _check_same_kind(full_path, loaded, leaf)
                leaves.append(loaded)
            subtrees.append(jax.tree_util.tree_unflatten(subdef, leaves))
        if file.read(1):
            raise ValueError(
                "tree_deserialise_leaves: the file holds more leaves than `like`; it was "
                "written from a larger tree. Pass a `like` of the saved tree's structure."
            )
    return jax.tree_util.tree_unflatten(spec_def, subtrees)


def _check_same_kind(path: tuple, new: Any, old: Any) -> None:
    """What Equinox checks after loading: a custom spec kept each leaf's kind."""
    if isinstance(old, jax.Array | jax.ShapeDtypeStruct):
        same = isinstance(new, jax.Array)
    else:
        same = type(new) is type(old)
    if same and isinstance(old, jax.Array | np.ndarray) and not is_key_dtype(old.dtype):
        same = new.shape == old.shape and new.dtype == old.dtype
    if not same:
        raise ValueError(
            f"tree_deserialise_leaves: the leaf at {_path(path)} changed from "
            f"{_describe(old)} in `like` to {_describe(new)} on loading. A custom "
            f"`filter_spec` must return a leaf of the kind, shape and dtype that `like` has."
        )


_NPY_MAGIC = b"\x93NUMPY"


def _check_npy_follows(file: BinaryIO, like: Any) -> None:
    """Raise, saying which, unless the next bytes start a ``.npy`` array."""
    start = file.tell()
    magic = file.read(len(_NPY_MAGIC))
    file.seek(start)
    if not magic:
        raise _LeafError(
            "tree_deserialise_leaves: the file ends before the leaf at {path} "
            f"({_describe(like)}): it was written from a smaller tree. Pass a `like` of "
            "the saved tree's structure."
        )
    if magic != _NPY_MAGIC:
        seen = "pickled data" if magic[:1] == b"\x80" else f"bytes {magic!r}"
        raise _LeafError(
            "tree_deserialise_leaves: the file is not in the format tree_serialise_leaves "
            "writes (one .npy array per leaf): where the leaf at {path} should start "
            f"it holds {seen}. Read it with the "
            "library that wrote it."
        )


def _describe(like: Any) -> str:
    if hasattr(like, "shape") and hasattr(like, "dtype"):
        kind = "numpy " if isinstance(like, np.ndarray | np.generic) else ""
        return f"{kind}{short_dtype_name(like.dtype)}{list(like.shape)}"
    return type(like).__name__
