"""The rest of the filtered family, side by side with Equinox on the same inputs."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import pytreeclass as ptc


@ptc.pytree_dataclass
class Model:
    weight: jax.Array
    steps: jax.Array
    name: str
    scale: float = 2.0

    def __call__(self, x):
        return jnp.tanh(self.weight * x) * self.scale


def make_model():
    return Model(jnp.arange(1.0, 4.0), jnp.arange(3), "m")


def assert_same(ours, theirs):
    a, b = jax.tree_util.tree_flatten(ours), jax.tree_util.tree_flatten(theirs)
    assert a[1] == b[1]
    for x, y in zip(a[0], b[0], strict=True):
        if ptc.is_array(x):
            assert jnp.allclose(x, y, atol=1e-6)
        else:
            assert x == y


def test_filter_jvp_matches_equinox():
    model, x = make_model(), jnp.ones(3)
    tangents = (Model(jnp.ones(3), None, None, None), jnp.zeros(3))

    def f(m, x):
        return m(x), m.name

    assert_same(ptc.filter_jvp(f, (model, x), tangents), eqx.filter_jvp(f, (model, x), tangents))


def test_filter_jvp_needs_matching_structures():
    with pytest.raises(ValueError, match="same structure, with None as the tangent"):
        ptc.filter_jvp(lambda x: x, (jnp.ones(2),), (jnp.ones(2), jnp.ones(2)))


@pytest.mark.parametrize("has_aux", [False, True])
def test_filter_vjp_matches_equinox(has_aux):
    model, x = make_model(), jnp.ones(3)

    def f(m, x):
        out = (m(x), m.name)
        return (out, {"aux": m.steps}) if has_aux else out

    ours, theirs = (
        ptc.filter_vjp(f, model, x, has_aux=has_aux),
        eqx.filter_vjp(f, model, x, has_aux=has_aux),
    )
    assert_same(ours[0], theirs[0])
    cotangent = (jnp.ones(3), None)
    assert_same(ours[1](cotangent), theirs[1](cotangent))
    if has_aux:
        assert_same(ours[2], theirs[2])


@pytest.mark.parametrize("name", ["filter_jacfwd", "filter_jacrev", "filter_hessian"])
def test_jacobians_match_equinox(name):
    def f(m):
        return jnp.sum(m(jnp.ones(3)) ** 2) if name == "filter_hessian" else m(jnp.ones(3))

    ours, theirs = getattr(ptc, name)(f)(make_model()), getattr(eqx, name)(f)(make_model())
    assert_same(ours, theirs)


def test_jacobian_with_aux_and_as_a_method():
    @ptc.pytree_dataclass
    class Quadratic:
        a: jax.Array

        @ptc.filter_jacrev
        def jacobian(self, x):
            return self.a * x**2

    jac = Quadratic(jnp.ones(2)).jacobian(jnp.arange(2.0))
    assert jnp.array_equal(jac.a, jnp.diag(jnp.arange(2.0) ** 2))
    out, aux = ptc.filter_jacfwd(lambda x: (x * 2, "aux"), has_aux=True)(jnp.ones(2))
    assert aux == "aux" and out.shape == (2, 2)


def test_filter_checkpoint_matches_plain_gradients_and_equinox():
    def loss(m, x):
        return jnp.sum(m(x))

    model, x = make_model(), jnp.ones(3)
    plain = ptc.filter_grad(loss)(model, x)
    ours = ptc.filter_grad(ptc.filter_checkpoint(loss))(model, x)
    theirs = eqx.filter_grad(eqx.filter_checkpoint(loss))(model, x)
    assert_same(ours, plain)
    assert_same(ours, theirs)


def test_filter_eval_shape_builds_a_model_abstractly_like_equinox():
    def build(n, name):
        return Model(jnp.zeros(n), jnp.zeros(n, jnp.int32), name)

    ours, theirs = (
        ptc.filter_eval_shape(build, 5, "abstract"),
        eqx.filter_eval_shape(build, 5, "abstract"),
    )
    assert isinstance(ours.weight, jax.ShapeDtypeStruct) and ours.weight.shape == (5,)
    assert ours.name == "abstract"
    assert_same(ours, theirs)
    doubled = ptc.filter_eval_shape(lambda m: m(jnp.ones(5)), ours)
    assert doubled.shape == (5,)


def test_filter_closure_convert_exposes_closed_over_arrays():
    def outer(w):
        f = ptc.filter_closure_convert(lambda x, tag: jnp.sum(x * w), jnp.ones(2), "t")
        assert len(jax.tree_util.tree_leaves(f)) == 1  # w, as a child
        return f(jnp.arange(2.0), "t")

    assert jnp.array_equal(jax.grad(outer)(jnp.ones(2)), jnp.arange(2.0))
    f = ptc.filter_closure_convert(lambda x, tag: x, jnp.ones(2), "t")
    with pytest.raises(ValueError, match=r"filter_closure_convert\(.*\): called with arguments"):
        f(jnp.ones(3), "t")


# --- custom derivatives ---------------------------------------------------------------


def custom_jvp_pair():
    def fn(x, y, scale):
        return x * y * scale

    def fn_jvp(primals, tangents):
        (x, y, scale), (tx, ty, _) = primals, tangents
        out = fn(x, y, scale)
        tx = 0 if tx is None else tx  # symbolic zeros arrive as None
        ty = 0 if ty is None else ty
        return out, 10 * (tx * y + x * ty) * scale

    ours, theirs = ptc.filter_custom_jvp(fn), eqx.filter_custom_jvp(fn)
    ours.def_jvp(fn_jvp)
    theirs.def_jvp(fn_jvp)
    return ours, theirs


def test_filter_custom_jvp_matches_equinox_with_symbolic_zeros():
    ours, theirs = custom_jvp_pair()
    x, y = jnp.asarray(2.0), jnp.asarray(3.0)
    for argnums in (0, 1, (0, 1)):
        a = jax.grad(lambda x, y: ours(x, y, 1.0), argnums=argnums)(x, y)
        b = jax.grad(lambda x, y: theirs(x, y, 1.0), argnums=argnums)(x, y)
        assert_same(a, b)
    assert float(jax.grad(lambda x: ours(x, y, 1.0))(x)) == 30.0


def test_filter_custom_jvp_takes_and_returns_non_array_leaves():
    @ptc.filter_custom_jvp
    def tagged(x, tag):
        return x * 2, tag

    @tagged.def_jvp
    def tagged_jvp(primals, tangents):
        (x, tag), (tx, _) = primals, tangents
        return tagged(x, tag), (7 * tx, None)

    assert tagged(jnp.ones(()), "t")[1] == "t"
    assert float(jax.grad(lambda x: tagged(x, "t")[0])(1.0)) == 7.0


def test_filter_custom_jvp_defjvp_materialises_zeros():
    f = ptc.filter_custom_jvp(lambda x, n: x * n)

    @f.defjvp
    def f_jvp(primals, tangents):
        (x, n), (tx, tn) = primals, tangents
        assert tx is not None and tn is None  # n is an int: never differentiated
        return x * n, tx * n * 100

    assert float(jax.grad(lambda x: f(x, 3))(1.0)) == 300.0


def custom_vjp_pair():
    def fn(params, x, label):
        return params["w"] * x, label

    def fwd(perturbed, params, x, label):
        return fn(params, x, label), ("a non-array residual", x)

    def bwd(residuals, grad_out, perturbed, params, x, label):
        note, saved_x = residuals
        assert note == "a non-array residual"
        g, _ = grad_out
        return {"w": jnp.sum(g * saved_x) * 10, "name": None}

    ours, theirs = ptc.filter_custom_vjp(fn), eqx.filter_custom_vjp(fn)
    for pair in (ours, theirs):
        pair.def_fwd(fwd)
        pair.def_bwd(bwd)
    return ours, theirs


def test_filter_custom_vjp_matches_equinox_with_non_array_residuals():
    ours, theirs = custom_vjp_pair()
    params, x = {"w": jnp.asarray(2.0), "name": "p"}, jnp.ones(3)

    def loss(f):
        return lambda p: jnp.sum(f(p, x, "label")[0])

    assert_same(jax.grad(lambda w: loss(ours)({**params, "w": w}))(params["w"]), 30.0)
    assert_same(ptc.filter_grad(loss(ours))(params), eqx.filter_grad(loss(theirs))(params))
    assert ours(params, x, "label")[1] == "label"


@pytest.mark.parametrize("lib", ["ptc", "eqx"])
def test_filter_custom_vjp_refuses_to_differentiate_other_arguments(lib):
    ours, theirs = custom_vjp_pair()
    f = ours if lib == "ptc" else theirs
    params = {"w": jnp.asarray(2.0), "name": "p"}
    with pytest.raises(RuntimeError) as error:  # Equinox's type, as its own test expects
        jax.grad(lambda x: jnp.sum(f(params, x, "label")[0]))(jnp.ones(3))
    if lib == "ptc":
        assert "only the first argument is differentiated" in str(error.value)


def test_filter_custom_vjp_checks_the_gradient_structure():
    f = ptc.filter_custom_vjp(lambda p: p["w"] * 2)
    f.defvjp(lambda p: (f(p), None), lambda res, g, p: {"not": "matching"})
    with pytest.raises(RuntimeError, match=r"filter\(vjp_arg, is_inexact_array\)"):
        jax.grad(lambda w: f({"w": w}))(1.0)


def test_filter_custom_vjp_needs_its_rule_first():
    f = ptc.filter_custom_vjp(lambda p: p)
    with pytest.raises(RuntimeError, match="define the rule first"):
        f(1.0)


def test_custom_rules_see_python_number_inputs_as_arrays():
    # JAX hands a Python-number primal to the rules as a typed scalar; treated as a
    # plain float, the output would turn static and the gradient silently zero
    # (what Equinox 0.13.8 returns here).
    f = ptc.filter_custom_vjp(lambda p: p["w"] * 2)
    f.def_fwd(lambda perturbed, p: (f(p), None))
    f.def_bwd(lambda residuals, g, perturbed, p: {"w": g * 5})
    assert float(jax.grad(lambda w: f({"w": w}))(1.0)) == 5.0

    g = ptc.filter_custom_jvp(lambda x: x * 2)
    g.def_jvp(lambda primals, tangents: (g(*primals), 7 * tangents[0]))
    assert float(jax.grad(g)(1.0)) == 7.0


# --- has_aux: any 2-sequence; aux arrays come back concrete -----------------------------


def _with_aux(x, tag):
    y = jnp.sin(x)
    return jnp.sum(y), {"activations": y, "tag": tag}


HAS_AUX = {
    "filter_vjp": lambda lib, x, t: lib.filter_vjp(lambda x: _with_aux(x, t), x, has_aux=True)[2],
    "filter_jacfwd": lambda lib, x, t: lib.filter_jacfwd(_with_aux, has_aux=True)(x, t)[1],
    "filter_jacrev": lambda lib, x, t: lib.filter_jacrev(_with_aux, has_aux=True)(x, t)[1],
    "filter_hessian": lambda lib, x, t: lib.filter_hessian(_with_aux, has_aux=True)(x, t)[1],
    "filter_grad": lambda lib, x, t: lib.filter_grad(_with_aux, has_aux=True)(x, t)[1],
    "filter_value_and_grad": lambda lib, x, t: lib.filter_value_and_grad(_with_aux, has_aux=True)(
        x, t
    )[0][1],
}


@pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])
@pytest.mark.parametrize("transform", HAS_AUX)
def test_aux_arrays_come_back_concrete_from_every_transform(transform, lib):
    x = jnp.arange(3.0)
    tag = "t" if lib is ptc else None  # Equinox's jacfwd and hessian take array aux only
    aux = HAS_AUX[transform](lib, x, tag)
    assert not isinstance(aux["activations"], jax.core.Tracer)
    assert jnp.allclose(aux["activations"] + 1, jnp.sin(x) + 1)  # usable: no leaked tracer
    assert aux["tag"] == tag


@pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])
def test_has_aux_takes_any_pair_as_jax_grad_does(lib):
    grads, aux = lib.filter_grad(lambda x: [jnp.sum(x**2), x], has_aux=True)(jnp.ones(2))
    assert jnp.allclose(grads, 2.0) and jnp.allclose(aux, 1.0)


# --- filter_eval_shape frees what the user drops ------------------------------------------


class _Table:
    """A stand-in for a big lookup table that a function closes over."""


def test_filter_eval_shape_keeps_no_function_closure_or_static_alive():
    import gc
    import weakref

    def make():
        table = _Table()

        def lookup(x, name):
            assert table is not None  # closed over, as a lookup table would be
            return x * 2, name

        return lookup, weakref.ref(table)

    lookup, table_ref = make()
    static = _Table()
    static_ref = weakref.ref(static)
    ptc.filter_eval_shape(lambda x, s: x * 2, jnp.ones(3), static)
    out = ptc.filter_eval_shape(lookup, jnp.ones(3), "name")
    assert out[0].shape == (3,)
    function_ref = weakref.ref(lookup)
    del lookup, static, out
    gc.collect()
    assert function_ref() is None and table_ref() is None and static_ref() is None


def test_one_carrier_takes_non_arrays_through_every_transform():
    # Static (pytreeclass/_static.py) is the only carrier: jit outputs, AD, custom AD,
    # vmap, make_jaxpr, checkpoint and has_aux all hand back the same non-array values.
    from pytreeclass._static import Static

    tag = ("a", 1, None)

    def f(x):
        return {"y": jnp.sin(x), "tag": tag}

    x = jnp.arange(3.0)
    outputs = [
        ptc.filter_jit(f)(x),
        ptc.filter_vmap(f)(x),
        ptc.filter_checkpoint(f)(x),
        ptc.filter_jvp(f, (x,), (jnp.ones(3),))[0],
        ptc.filter_vjp(f, x)[0],
        ptc.filter_grad(lambda x: (jnp.sum(f(x)["y"]), f(x)), has_aux=True)(x)[1],
    ]
    assert all(out["tag"] is tag or out["tag"] == tag for out in outputs)
    assert ptc.filter_make_jaxpr(f)(x)[2]["tag"] == tag
    assert Static(tag) == Static(("a", 1, None)) and hash(Static(tag)) == hash(
        Static(("b", 2, None))
    )  # by structure
    assert jax.tree_util.tree_leaves(Static(jnp.ones(3))) == []
