"""A 16-lane float32 vector for Numba kernels (an LLVM `<16 x float>`: one AVX-512
register), with the operations direct_conv.py's and layer_kernels.py's kernels need.

Numba does not vectorise a tile of accumulators by itself (an accumulator array
stays in memory; 64 scalars per pixel stay scalar: benchmarks/README.md, "Direct
convolution"), so the kernels name the vectors. `vload`/`vstore` read and write
16 consecutive values of a 1-D C-contiguous float32 array, unchecked: the caller
keeps `idx + 16` within the array.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

VEC = ir.VectorType(ir.FloatType(), 16)
FLAT = types.Array(types.float32, 1, "C")   # the only arrays vload and vstore accept
FLAT_INT32 = types.Array(types.int32, 1, "C")   # vpick's indices


def host_has_avx512() -> bool:
    """Whether Numba compiles for this CPU and it has AVX-512F (with fewer than 32
    vector registers a 16-accumulator tile spills; only AVX-512 was measured)."""
    import os

    from llvmlite import binding as ll
    if os.environ.get("NUMBA_CPU_NAME", "host") not in ("", "host"):
        return False   # compiling for another CPU (e.g. forced haswell)
    features = os.environ.get("NUMBA_CPU_FEATURES") or ll.get_host_cpu_features().flatten()
    return "+avx512f" in features


class F32x16(types.Type):
    def __init__(self):
        super().__init__(name="f32x16")


f32x16 = F32x16()


@register_model(F32x16)
class _F32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, VEC)


def _pointer(context, builder, array_type, array, idx):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [idx]), VEC.as_pointer())


@intrinsic
def vload(typingctx, flat, idx):
    """flat[idx:idx + 16] as one vector."""
    if flat != FLAT:
        return None
    return f32x16(flat, idx), lambda ctx, b, sig, a: b.load(
        _pointer(ctx, b, sig.args[0], *a), align=4)


@intrinsic
def vstore(typingctx, flat, idx, v):
    """flat[idx:idx + 16] = v."""
    if flat != FLAT or v != f32x16:
        return None

    def codegen(ctx, b, sig, a):
        b.store(a[2], _pointer(ctx, b, sig.args[0], a[0], a[1]), align=4)
        return ctx.get_dummy_value()
    return types.none(flat, idx, v), codegen


@intrinsic
def vzero(typingctx):
    return f32x16(), lambda ctx, b, sig, a: ir.Constant(VEC, [0.0] * 16)


@intrinsic
def vfma(typingctx, s, v, acc):
    """acc + s * v per lane (s a float32 scalar), one fused multiply-add."""
    if s != types.float32 or v != f32x16 or acc != f32x16:
        return None

    def codegen(ctx, b, sig, a):
        fma = cgutils.get_or_insert_function(b.module, ir.FunctionType(VEC, [VEC] * 3),
                                             "llvm.fma.v16f32")
        return b.call(fma, [_spread(b, a[0]), a[1], a[2]])
    return f32x16(types.float32, f32x16, f32x16), codegen


def _spread(b, s):
    """The scalar s in all 16 lanes."""
    one = b.insert_element(ir.Constant(VEC, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
    return b.shuffle_vector(one, ir.Constant(VEC, ir.Undefined),
                            ir.Constant(ir.VectorType(ir.IntType(32), 16), [0] * 16))


@intrinsic
def vmuladd(typingctx, s, v, acc):
    """acc + s * v per lane (s a float32 scalar), product and sum each rounded (not
    fused: the bits of a scalar loop's `acc += s * v`)."""
    if s != types.float32 or v != f32x16 or acc != f32x16:
        return None
    return f32x16(types.float32, f32x16, f32x16), lambda ctx, b, sig, a: b.fadd(
        a[2], b.fmul(_spread(b, a[0]), a[1]))


@intrinsic
def vpick(typingctx, flat, ints, idx, value):
    """flat[idx:idx + 16] where ints[idx:idx + 16] == value, else 0.0 (a max-pool's
    gradient for the cells its arg names); unchecked as vload."""
    if flat != FLAT or ints != FLAT_INT32 or not isinstance(idx, types.Integer) or \
            not isinstance(value, types.Integer):
        return None

    def codegen(ctx, b, sig, a):
        i32, lanes = ir.IntType(32), ir.VectorType(ir.IntType(32), 16)
        data = ctx.make_array(sig.args[1])(ctx, b, a[1]).data
        at = ctx.cast(b, a[2], sig.args[2], types.int64)
        got = b.load(b.bitcast(b.gep(data, [at]), lanes.as_pointer()), align=4)
        want = b.trunc(ctx.cast(b, a[3], sig.args[3], types.int64), i32)
        one = b.insert_element(ir.Constant(lanes, ir.Undefined), want, ir.Constant(i32, 0))
        spread = b.shuffle_vector(one, ir.Constant(lanes, ir.Undefined),
                                  ir.Constant(lanes, [0] * 16))
        values = b.load(_pointer(ctx, b, sig.args[0], a[0], at), align=4)
        return b.select(b.icmp_signed("==", got, spread), values, ir.Constant(VEC, [0.0] * 16))
    return f32x16(flat, ints, idx, value), codegen


@intrinsic
def vpool4_store(typingctx, a0, a1, a2, a3, c0, c1, c2, c3, y, arg, idx):
    """Per lane, a 2x2 max pool of four cells' vectors a0..a3 (maxpool_forward's
    compare, bodies.pool_takes: a larger value or a NaN takes the window, cells in
    order), the winner stored at y[idx:idx + 16] and its cell's index (c0..c3, the
    same in every lane) at arg[idx:idx + 16]; unchecked as vstore."""
    ints = (c0, c1, c2, c3, idx)
    if (a0, a1, a2, a3) != (f32x16,) * 4 or y != FLAT or arg != FLAT_INT32 or \
            not all(isinstance(t, types.Integer) for t in ints):
        return None

    def codegen(ctx, b, sig, a):
        i32, lanes = ir.IntType(32), ir.VectorType(ir.IntType(32), 16)

        def spread(k):
            v = b.trunc(ctx.cast(b, a[4 + k], sig.args[4 + k], types.int64), i32)
            one = b.insert_element(ir.Constant(lanes, ir.Undefined), v, ir.Constant(i32, 0))
            return b.shuffle_vector(one, ir.Constant(lanes, ir.Undefined),
                                    ir.Constant(lanes, [0] * 16))
        best, at = a[0], spread(0)
        for k in (1, 2, 3):   # the first cell against itself takes nothing new
            take = b.or_(b.fcmp_ordered(">", a[k], best), b.fcmp_unordered("uno", a[k], a[k]))
            best, at = b.select(take, a[k], best), b.select(take, spread(k), at)
        idx = ctx.cast(b, a[10], sig.args[10], types.int64)
        b.store(best, _pointer(ctx, b, sig.args[8], a[8], idx), align=4)
        data = ctx.make_array(sig.args[9])(ctx, b, a[9]).data
        b.store(at, b.bitcast(b.gep(data, [idx]), lanes.as_pointer()), align=4)
        return ctx.get_dummy_value()
    return types.none(a0, a1, a2, a3, c0, c1, c2, c3, y, arg, idx), codegen
