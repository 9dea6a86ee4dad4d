"""Work that leaves the process: models and transform wrappers through pickle and
cloudpickle, into fresh processes, as Ray, Dask, joblib and spawn pools send them."""

import pickle
import subprocess
import sys
import textwrap

import cloudpickle
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

# A child process: reads a cloudpickled (function, arguments) pair from stdin,
# writes back cloudpickle of what the function returns.
CHILD = textwrap.dedent(
    """
    import sys, cloudpickle
    fn, args = cloudpickle.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(cloudpickle.dumps(fn(*args)))
    """
)


def in_a_fresh_process(fn, *args):
    """``fn(*args)`` run in a new Python process, everything sent by cloudpickle (this
    test module by value: the child cannot import it)."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=cloudpickle.dumps((fn, args)),
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return cloudpickle.loads(done.stdout)


def describe(model, step, x):
    """What the child sees: the class, leaves, statics, a jit rebuild, a step."""
    leaves, treedef = jax.tree_util.tree_flatten(model)
    rebuilt = jax.jit(lambda m: m)(model)
    return {
        "type": type(model).__name__,  # cloudpickle does not carry __qualname__
        "leaves": [np.asarray(leaf) for leaf in leaves],
        "static": model.name,
        "rebuilt type": type(rebuilt).__name__,
        "treedef": str(treedef).split("<", 1)[0],
        "step": np.asarray(step(model, x)),
        "method": np.asarray(model.loss(x)),
    }


def _local_model():
    """A model of a class defined in a function: cloudpickle sends such a class by
    value, exactly as it sends a class of ``__main__`` or a notebook."""

    @ptc.pytree_dataclass
    class Model:
        weight: jax.Array
        name: str = ptc.field(static=True, default="local")

        def __call__(self, x):
            return jnp.tanh(self.weight * x)

        @ptc.filter_jit
        def loss(self, x):
            return jnp.sum(self(x) ** 2)

    return Model(jnp.arange(3.0))


def test_a_model_of_a_class_sent_by_value_works_in_a_fresh_process():
    model, x = _local_model(), jnp.ones(3)
    step = ptc.filter_jit(lambda m, x: ptc.filter_grad(lambda m: m.loss(x))(m).weight)
    child = in_a_fresh_process(describe, model, step, x)
    here = describe(model, step, x)
    assert child.keys() == here.keys()
    for key, value in here.items():
        np.testing.assert_array_equal(child[key], value, err_msg=key)


MAIN = textwrap.dedent(
    """
    import sys, cloudpickle, jax, jax.numpy as jnp
    import pytreeclass as ptc
    sys.path.insert(0, {tests!r})
    from test_pickling import describe, in_a_fresh_process

    @ptc.pytree_dataclass
    class Model:
        weight: jax.Array
        name: str = ptc.field(static=True, default="main")

        def __call__(self, x):
            return jnp.tanh(self.weight * x)

        @ptc.filter_jit
        def loss(self, x):
            return jnp.sum(self(x) ** 2)

    model, x = Model(jnp.arange(3.0)), jnp.ones(3)
    step = ptc.filter_jit(lambda m, x: m(x) + 1)
    child, here = in_a_fresh_process(describe, model, step, x), describe(model, step, x)
    import numpy as np
    assert all(np.array_equal(child[k], v) for k, v in here.items()), (child, here)
    print("same in the child", sorted(child))
    """
)


def test_a_model_of_a_main_class_works_in_a_fresh_process(tmp_path):
    script = MAIN.format(tests=str(__import__("pathlib").Path(__file__).parent))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "same in the child" in done.stdout


def test_a_class_sent_by_value_and_loaded_back_in_its_own_process_keeps_working():
    model = _local_model()
    again = cloudpickle.loads(cloudpickle.dumps(model))
    assert type(again) is type(model) and again == model
    assert jax.tree_util.tree_structure(again) == jax.tree_util.tree_structure(model)
    assert float(again.loss(jnp.ones(3))) == float(model.loss(jnp.ones(3)))


def test_a_treedef_pickles_in_its_own_process():
    model = _local_model()
    treedef = jax.tree_util.tree_structure(model)
    assert cloudpickle.loads(cloudpickle.dumps(treedef)) == treedef


# --- transform wrappers -------------------------------------------------------------------


def loss(model, x):
    return jnp.sum(model.weight * x)


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array

    def __call__(self, x):
        return jnp.sum(self.weight * x)


WRAPPERS = {
    "filter_jit": lambda f: ptc.filter_jit(f),
    "filter_grad": lambda f: ptc.filter_grad(f),
    "filter_value_and_grad": lambda f: ptc.filter_value_and_grad(f),
    "filter_jit(filter_grad)": lambda f: ptc.filter_jit(ptc.filter_grad(f)),
    "filter_jacrev": lambda f: ptc.filter_jacrev(f),
    "filter_checkpoint": lambda f: ptc.filter_checkpoint(f),
}
FUNCTIONS = {
    "module function": lambda: loss,
    "lambda": lambda: lambda model, x: jnp.sum(model.weight * x),
}


def _same(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(x, y)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_every_transform_wrapper_cloudpickles_and_runs_again(wrapper, function):
    wrapped = WRAPPERS[wrapper](FUNCTIONS[function]())
    args = (Linear(jnp.arange(3.0)), jnp.ones(3))
    expected = wrapped(*args)
    again = cloudpickle.loads(cloudpickle.dumps(wrapped))
    _same(again(*args), expected)


@pytest.mark.parametrize("wrapper", ["filter_jit", "filter_grad", "filter_value_and_grad"])
def test_wrappers_of_a_pytree_function_pickle_with_plain_pickle(wrapper):
    model = Linear(jnp.arange(3.0))
    wrapped = getattr(ptc, wrapper)(model)
    again = pickle.loads(pickle.dumps(wrapped))
    _same(again(jnp.ones(3)), wrapped(jnp.ones(3)))


def doubled(model, x):
    return 2 * x  # x is donated and reused for the output


def test_an_unpickled_filter_jit_keeps_its_options():
    args = (Linear(jnp.arange(3.0)), jnp.ones(3))
    again = pickle.loads(pickle.dumps(ptc.filter_jit(doubled, donate="all-except-first")))
    assert _donates(again.lower(*args).as_text())
    assert not _donates(ptc.filter_jit(doubled).lower(*args).as_text())


def _donates(text):
    return "tf.aliasing_output" in text or "jax.buffer_donor" in text


def scaled(model, x):
    return model.weight * x


def test_an_unpickled_filter_jit_shares_this_process_s_cache_and_counts_its_own_traces():
    f = ptc.filter_jit(scaled)
    f(Linear(jnp.ones(2)), jnp.ones(2))
    again = pickle.loads(pickle.dumps(f))
    assert again is not f and again.__wrapped__ is scaled
    again(Linear(jnp.ones(2)), jnp.ones(2))
    assert (f.trace_count(), again.trace_count()) == (1, 0)  # one cache, as filter_jit(scaled)


def test_filter_jit_as_a_method_decorator_still_binds():
    model = _local_model()
    assert model.loss.__self__ is model
    assert type(model).loss.__name__ == "loss"


# --- static fields of inherited bases ---------------------------------------------------


def test_a_subclass_of_a_flax_struct_base_keeps_the_bases_static_fields():
    from flax import struct

    @struct.dataclass
    class Base:
        weight: jax.Array
        name: str = struct.field(pytree_node=False, default="base")

    @ptc.pytree_dataclass
    class Child(Base):
        bias: jax.Array = 0.0

    child = Child(jnp.ones(2), bias=jnp.zeros(2))
    assert "base" not in jax.tree_util.tree_leaves(child)
    assert len(jax.tree_util.tree_leaves(child)) == 2
    assert jax.jit(lambda c: c)(child).name == "base"
