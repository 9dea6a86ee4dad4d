"""``tree_serialise_leaves`` / ``tree_deserialise_leaves``: Equinox's file format.

A file is the array-like leaves of a tree, in flatten order, each written with
``numpy.save`` (Python numbers as 0-d arrays); nothing else. So files written
here load in Equinox and the other way round. Static fields and other
non-array leaves are not written: they come from ``like`` when loading.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import jax
import jax.numpy as jnp
import numpy as np

from ._dtypes import is_key_dtype, short_dtype_name
from ._filters import is_array, is_array_like

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


def tree_serialise_leaves(path_or_file: PathOrFile, pytree: Any) -> None:
    """Write the array-like leaves of ``pytree`` to a file (Equinox's format).

    Differs from Equinox's: typed PRNG keys are written as their key data, and
    read back as keys when ``like`` holds a key. A path without a suffix gets
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
    with _opened(path_or_file, "wb") as file:
        for leaf in jax.tree_util.tree_leaves(pytree):
            if is_array(leaf) and is_key_dtype(leaf.dtype):
                leaf = jax.random.key_data(leaf)
            if is_array_like(leaf):
                np.save(file, np.asarray(leaf), allow_pickle=False)


def tree_deserialise_leaves(path_or_file: PathOrFile, like: Any) -> Any:
    """A tree like ``like`` with its array-like leaves read from a file (Equinox's format).

    ``like`` gives the structure, the static fields and the non-array leaves;
    its arrays may be ``jax.ShapeDtypeStruct`` (from ``filter_eval_shape``).
    Differs from Equinox's: when the file does not match ``like``, the error
    names the key path of the first leaf that differs, with its shape and
    dtype on each side (or says which side has leaves left over).

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
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    with _opened(path_or_file, "rb") as file:
        leaves = [_read_leaf(file, path, leaf) for path, leaf in flat]
        if file.read(1):
            raise ValueError(
                "tree_deserialise_leaves: the file holds more leaves than `like`; it was "
                "written from a larger tree. Pass a `like` of the saved tree's structure."
            )
    return jax.tree_util.tree_unflatten(treedef, leaves)


def _read_leaf(file: BinaryIO, path: tuple, like: Any) -> Any:
    is_struct = isinstance(like, jax.ShapeDtypeStruct)
    if not (is_struct or is_array_like(like)):
        return like
    _check_npy_follows(file, path, like)
    loaded = np.load(file, allow_pickle=False)
    if not (is_struct or is_array(like)):  # a Python number
        return type(like)(loaded.item())
    dtype = like.dtype
    expected = jax.random.key_data(like) if is_key_dtype(dtype) and not is_struct else None
    if expected is not None:
        shape, want_dtype = expected.shape, expected.dtype
    elif is_struct and is_key_dtype(dtype):
        shape, want_dtype = loaded.shape, loaded.dtype  # the key data's layout is the impl's
    else:
        shape, want_dtype = like.shape, np.dtype(dtype)
    if loaded.dtype.kind == "V" and loaded.dtype.itemsize == np.dtype(want_dtype).itemsize:
        loaded = loaded.view(want_dtype)  # numpy writes ml_dtypes (bfloat16, ...) as void
    if tuple(loaded.shape) != tuple(shape) or loaded.dtype != want_dtype:
        raise ValueError(
            f"tree_deserialise_leaves: the file does not match `like` at {_path(path)}: "
            f"the file has {short_dtype_name(loaded.dtype)}{list(loaded.shape)}, `like` has "
            f"{_describe(like)}. Pass a `like` of the saved tree's structure and dtypes."
        )
    if is_key_dtype(dtype):
        return jax.random.wrap_key_data(loaded, impl=jax.random.key_impl(cast(Any, like)))
    return jnp.asarray(loaded)


_NPY_MAGIC = b"\x93NUMPY"


def _check_npy_follows(file: BinaryIO, path: tuple, like: Any) -> None:
    """Raise, saying which, unless the next bytes start a ``.npy`` array."""
    start = file.tell()
    magic = file.read(len(_NPY_MAGIC))
    file.seek(start)
    if not magic:
        raise ValueError(
            f"tree_deserialise_leaves: the file ends before the leaf at {_path(path)} "
            f"({_describe(like)}): it was written from a smaller tree. Pass a `like` of "
            f"the saved tree's structure."
        )
    if magic != _NPY_MAGIC:
        seen = "pickled data" if magic[:1] == b"\x80" else f"bytes {magic!r}"
        raise ValueError(
            f"tree_deserialise_leaves: the file is not in the format tree_serialise_leaves "
            f"writes (one .npy array per leaf): where the leaf at {_path(path)} should start "
            f"it holds {seen}. Read it with the library that wrote it."
        )


def _describe(like: Any) -> str:
    if hasattr(like, "shape") and hasattr(like, "dtype"):
        return f"{short_dtype_name(like.dtype)}{list(like.shape)}"
    return type(like).__name__
