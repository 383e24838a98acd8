//! The objective's tape compiled to native code at run time (Cranelift), a first part of the
//! compiled CPU kernel (issue 13): each instruction list of a [`Tape`] becomes one function
//! that evaluates it over every lane of the interpreter's register file, 128-bit vectors at a
//! time (f32x4 or f64x2: Cranelift's x64 backend has no wider ones), [`VECTORS`] independent
//! vectors interleaved so that the FMA pipes have independent work. Intermediate values stay
//! in registers (the interpreter stores and reloads every one); only the registers that are
//! read outside the list (loss, gradient, Hessian, what a later list or the rows' means read)
//! are stored.
//!
//! Bit for bit the interpreter's results: every instruction is the same IEEE operation in the
//! same order (products and sums stay separate: Cranelift contracts nothing into an FMA), and
//! `Pow` and the built-in functions call the interpreter's own scalar code lane by lane
//! ([`call_pow`], [`call_func`]).
//!
//! Constants are read from memory at each use rather than held in registers: Cranelift then
//! folds a single-use load into the arithmetic, and nothing spills (measured in the issue's
//! prototype: faster than `opt_level = speed`, which hoisted them into registers and spilled).

use super::tape::{Instr, Op, Tape};
use crate::method::lanes::LANES;
use crate::problem::expr::Phase;
use crate::problem::real::Func;
use crate::problem::real::Real;
use cranelift_codegen::ir::{types, AbiParam, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Type, Value};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module};
use std::collections::{HashMap, HashSet};

/// Independent vectors per pass of the lane loop: 4 × 128 bits = 16 f32 lanes (8 f64).
pub const VECTORS: usize = 4;
const VECTOR_BYTES: usize = 16;

/// One compiled instruction list: `f(regs, pool)` evaluates it on every lane of `regs`, the
/// interpreter's register file (register r's lanes at `r·LANES`), with `pool` the splatted
/// scalar constants of the list's instructions.
struct List {
    f: unsafe extern "C" fn(*mut u8, *const u8),
    pool: Vec<u8>,
    empty: bool,
}

/// The tape's three instruction lists compiled (see `Tape`), one per [`Phase`]: the point's,
/// the per-row body's and the one after the means.
pub struct Jit {
    lists: [List; 3],
    /// Owns the code the lists point to (never freed: a sweep's kernels live until it ends,
    /// and a few kilobytes per block are not worth the unsafe `free_memory`).
    _module: JITModule,
}

const PHASES: [Phase; 3] = [Phase::Point, Phase::Row, Phase::Reduced];

// SAFETY: the compiled functions are immutable code that reads the pool and writes only the
// register file it is handed; the module is never touched after compilation.
unsafe impl Send for Jit {}
unsafe impl Sync for Jit {}

/// Why a tape could not be compiled (the sweep then runs the interpreter and says so).
#[derive(Debug, Clone)]
pub struct Unsupported(pub String);

impl Jit {
    /// Compile `tape` for the precision `F` (f32 or f64) on this machine.
    pub fn new<F: Real>(tape: &Tape) -> Result<Jit, Unsupported> {
        let size = std::mem::size_of::<F>();
        let vector = match size {
            4 => types::F32X4,
            8 => types::F64X2,
            _ => return Err(Unsupported(format!("no vector type for {size}-byte reals"))),
        };
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| flags.set(k, v).map_err(|e| Unsupported(format!("cranelift setting {k}: {e}")));
        set(&mut flags, "opt_level", "none")?;
        set(&mut flags, "enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" })?;
        let isa = cranelift_native::builder()
            .map_err(|e| Unsupported(format!("this machine: {e}")))?
            .finish(settings::Flags::new(flags))
            .map_err(|e| Unsupported(format!("this machine: {e}")))?;
        let mut builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
        builder.symbol("gdsweep_pow", call_pow::<F> as *const u8);
        builder.symbol("gdsweep_func", call_func::<F> as *const u8);
        let mut module = JITModule::new(builder);

        // Registers read outside each list: the kernel's roots, the means' per-row values, and
        // every input of the other lists.
        let read_outside: HashSet<u32> = std::iter::once(tape.loss).chain(tape.grad.iter().copied()).chain(tape.hess.iter().copied()).chain(tape.means.iter().map(|m| m.1)).collect();
        let lists = PHASES.map(|phase| tape.list(phase));
        let mut compiled = Vec::with_capacity(3);
        for (li, list) in lists.iter().enumerate() {
            let mut outside = read_outside.clone();
            for (lj, other) in lists.iter().enumerate() {
                if lj != li {
                    outside.extend(other.iter().flat_map(|ins| ins.op.inputs()));
                }
            }
            compiled.push(compile_list::<F>(&mut module, list, &outside, vector, size, li)?);
        }
        module.finalize_definitions().map_err(|e| Unsupported(format!("finalizing: {e}")))?;
        let mut made = compiled.into_iter().zip(lists).map(|((id, pool), list)| {
            let code = module.get_finalized_function(id);
            // SAFETY: `code` was compiled from the signature (pointer, pointer) -> ().
            List { f: unsafe { std::mem::transmute::<*const u8, unsafe extern "C" fn(*mut u8, *const u8)>(code) }, pool, empty: list.is_empty() }
        });
        let lists = [(); 3].map(|_| made.next().expect("three lists"));
        Ok(Jit { lists, _module: module })
    }

    /// The tape's instructions of `phase` on every lane of `regs` (the interpreter's
    /// `exec(tape.list(phase))`).
    pub fn run<F: Real>(&self, phase: Phase, regs: &mut [[F; LANES]]) {
        let list = &self.lists[PHASES.iter().position(|&p| p == phase).expect("every phase")];
        if list.empty {
            return;
        }
        // SAFETY: the list reads and writes only registers of the tape it was compiled from, all
        // below `tape.n_regs`, which `regs` holds (Lanes::new sizes it so); the pool is its own.
        unsafe { (list.f)(regs.as_mut_ptr() as *mut u8, list.pool.as_ptr()) }
    }
}

/// `Pow` on one vector of lanes in place (`a` holds the bases, `b` the exponents): the
/// interpreter's `powf`, lane by lane.
extern "C" fn call_pow<F: Real>(a: *mut F, b: *const F) {
    let n = VECTOR_BYTES / std::mem::size_of::<F>();
    // SAFETY: the compiled code passes two stack slots of one vector each.
    let (a, b) = unsafe { (std::slice::from_raw_parts_mut(a, n), std::slice::from_raw_parts(b, n)) };
    for (x, &e) in a.iter_mut().zip(b) {
        *x = x.powf(e);
    }
}

/// Built-in function number `f` (`Func::USER` order) on one vector of lanes in place: the
/// interpreter's `Real::func`, lane by lane.
extern "C" fn call_func<F: Real>(f: u32, a: *mut F) {
    let n = VECTOR_BYTES / std::mem::size_of::<F>();
    // SAFETY: the compiled code passes a stack slot of one vector.
    let a = unsafe { std::slice::from_raw_parts_mut(a, n) };
    let f = Func::USER[f as usize].1;
    for x in a.iter_mut() {
        *x = F::func(f, *x);
    }
}

/// An operand of a one-operation instruction: a register, or a constant of the pool.
#[derive(Clone, Copy)]
enum Src {
    R(u32),
    K(f64),
}

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

fn arith(b: &mut FunctionBuilder, op: Arith, x: Value, y: Value) -> Value {
    match op {
        Arith::Add => b.ins().fadd(x, y),
        Arith::Sub => b.ins().fsub(x, y),
        Arith::Mul => b.ins().fmul(x, y),
        Arith::Div => b.ins().fdiv(x, y),
    }
}

/// Compile one list as function number `li`; returns its id and its constant pool.
fn compile_list<F: Real>(module: &mut JITModule, list: &[Instr], outside: &HashSet<u32>, vector: Type, size: usize, li: usize) -> Result<(cranelift_module::FuncId, Vec<u8>), Unsupported> {
    let err = |e: &dyn std::fmt::Display| Unsupported(format!("compiling: {e}"));
    let ptr = module.target_config().pointer_type();
    let mut ctx = module.make_context();
    ctx.func.signature.params.push(AbiParam::new(ptr));
    ctx.func.signature.params.push(AbiParam::new(ptr));
    let mut pow_sig = module.make_signature();
    pow_sig.params.extend([AbiParam::new(ptr), AbiParam::new(ptr)]);
    let mut func_sig = module.make_signature();
    func_sig.params.extend([AbiParam::new(types::I32), AbiParam::new(ptr)]);
    let uses_pow = list.iter().any(|i| matches!(i.op, Op::Pow(..)));
    let uses_func = list.iter().any(|i| matches!(i.op, Op::Func(f, _) if !matches!(f, Func::Sqrt | Func::Abs)));
    let pow_id = if uses_pow { Some(module.declare_function("gdsweep_pow", Linkage::Import, &pow_sig).map_err(|e| err(&e))?) } else { None };
    let func_id = if uses_func { Some(module.declare_function("gdsweep_func", Linkage::Import, &func_sig).map_err(|e| err(&e))?) } else { None };

    // The pool: each distinct scalar constant once, splatted to a vector.
    let mut pool_index: HashMap<u64, usize> = HashMap::new();
    let mut pool: Vec<F> = Vec::new();
    let lanes_per_vector = VECTOR_BYTES / size;
    let mut constant = |c: f64| -> i32 {
        let v = F::from_f64(c);
        let key = v.to_f64().to_bits();
        let at = *pool_index.entry(key).or_insert_with(|| {
            pool.extend(std::iter::repeat_n(v, lanes_per_vector));
            pool.len() / lanes_per_vector - 1
        });
        (at * VECTOR_BYTES) as i32
    };

    let mut fctx = FunctionBuilderContext::new();
    let frontend = module.isa().frontend_config();
    {
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let pow_ref = pow_id.map(|id| module.declare_func_in_func(id, b.func));
        let func_ref = func_id.map(|id| module.declare_func_in_func(id, b.func));
        let scratch = if uses_pow || uses_func { Some(b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, 2 * VECTOR_BYTES as u32, 4))) } else { None };
        let entry = b.create_block();
        let body = b.create_block();
        let exit = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.append_block_param(body, ptr);
        b.switch_to_block(entry);
        let (regs, pool_ptr) = (b.block_params(entry)[0], b.block_params(entry)[1]);
        let zero = b.ins().iconst(ptr, 0);
        b.ins().jump(body, &[zero.into()]);
        b.seal_block(entry);

        b.switch_to_block(body);
        let offset = b.block_params(body)[0];
        let base = b.ins().iadd(regs, offset);
        let mem = MemFlagsData::trusted();
        let reg_at = |r: u32, v: usize| (r as usize * LANES * size + v * VECTOR_BYTES) as i32;
        let mut values: HashMap<u32, [Value; VECTORS]> = HashMap::new();
        for ins in list {
            let mut out = [zero; VECTORS];
            for v in 0..VECTORS {
                let get = |b: &mut FunctionBuilder, r: u32| match values.get(&r) {
                    Some(vals) => vals[v],
                    None => b.ins().load(vector, mem, base, reg_at(r, v)),
                };
                let mut k = |b: &mut FunctionBuilder, c: f64| b.ins().load(vector, mem, pool_ptr, constant(c));
                // The one-operation instructions: an IEEE operation on two operands, each a
                // register or a constant.
                let simple = match ins.op {
                    Op::Add(a, c) => Some((Arith::Add, Src::R(a), Src::R(c))),
                    Op::Sub(a, c) => Some((Arith::Sub, Src::R(a), Src::R(c))),
                    Op::Mul(a, c) => Some((Arith::Mul, Src::R(a), Src::R(c))),
                    Op::Div(a, c) => Some((Arith::Div, Src::R(a), Src::R(c))),
                    Op::AddC(a, c) => Some((Arith::Add, Src::R(a), Src::K(c))),
                    Op::SubC(a, c) => Some((Arith::Sub, Src::R(a), Src::K(c))),
                    Op::CSub(c, a) => Some((Arith::Sub, Src::K(c), Src::R(a))),
                    Op::MulC(a, c) => Some((Arith::Mul, Src::R(a), Src::K(c))),
                    Op::DivC(a, c) => Some((Arith::Div, Src::R(a), Src::K(c))),
                    Op::CDiv(c, a) => Some((Arith::Div, Src::K(c), Src::R(a))),
                    _ => None,
                };
                if let Some((op, x, y)) = simple {
                    let mut fetch = |b: &mut FunctionBuilder, s: Src| match s {
                        Src::R(r) => get(b, r),
                        Src::K(c) => k(b, c),
                    };
                    let (x, y) = (fetch(&mut b, x), fetch(&mut b, y));
                    out[v] = arith(&mut b, op, x, y);
                    continue;
                }
                out[v] = match ins.op {
                    Op::Neg(a) => {
                        let a = get(&mut b, a);
                        b.ins().fneg(a)
                    }
                    Op::Lin2(a, ka, c, kc) => {
                        let (a, ka) = (get(&mut b, a), k(&mut b, ka));
                        let p = b.ins().fmul(a, ka);
                        let (c, kc) = (get(&mut b, c), k(&mut b, kc));
                        let q = b.ins().fmul(c, kc);
                        b.ins().fadd(p, q)
                    }
                    Op::Lin2C(a, ka, c, kc, d) => {
                        let (a, ka) = (get(&mut b, a), k(&mut b, ka));
                        let p = b.ins().fmul(a, ka);
                        let (c, kc) = (get(&mut b, c), k(&mut b, kc));
                        let q = b.ins().fmul(c, kc);
                        let s = b.ins().fadd(p, q);
                        let d = k(&mut b, d);
                        b.ins().fadd(s, d)
                    }
                    Op::MulCAdd(a, ka, c) => {
                        let (a, ka) = (get(&mut b, a), k(&mut b, ka));
                        let p = b.ins().fmul(a, ka);
                        let c = get(&mut b, c);
                        b.ins().fadd(p, c)
                    }
                    Op::MulAdd2(a, c, d, e) => {
                        let (a, c) = (get(&mut b, a), get(&mut b, c));
                        let p = b.ins().fmul(a, c);
                        let (d, e) = (get(&mut b, d), get(&mut b, e));
                        let q = b.ins().fmul(d, e);
                        b.ins().fadd(p, q)
                    }
                    Op::Pow(a, e) => {
                        let (a, e) = (get(&mut b, a), get(&mut b, e));
                        let slot = scratch.expect("a scratch slot where the list calls out");
                        b.ins().stack_store(ptr, a, slot, 0);
                        b.ins().stack_store(ptr, e, slot, VECTOR_BYTES as i32);
                        let pa = b.ins().stack_addr(ptr, slot, 0);
                        let pe = b.ins().stack_addr(ptr, slot, VECTOR_BYTES as i32);
                        b.ins().call(pow_ref.expect("gdsweep_pow declared"), &[pa, pe]);
                        b.ins().stack_load(ptr, vector, slot, 0)
                    }
                    // IEEE square root and absolute value: the same bits as the scalar ones.
                    Op::Func(Func::Sqrt, a) => {
                        let a = get(&mut b, a);
                        b.ins().sqrt(a)
                    }
                    Op::Func(Func::Abs, a) => {
                        let a = get(&mut b, a);
                        b.ins().fabs(a)
                    }
                    Op::Func(f, a) => {
                        let a = get(&mut b, a);
                        let slot = scratch.expect("a scratch slot where the list calls out");
                        b.ins().stack_store(ptr, a, slot, 0);
                        let pa = b.ins().stack_addr(ptr, slot, 0);
                        let fi = Func::USER.iter().position(|&(_, g)| g == f).expect("every Func is in Func::USER");
                        let fi = b.ins().iconst(types::I32, fi as i64);
                        b.ins().call(func_ref.expect("gdsweep_func declared"), &[fi, pa]);
                        b.ins().stack_load(ptr, vector, slot, 0)
                    }
                    Op::Add(..) | Op::Sub(..) | Op::Mul(..) | Op::Div(..) | Op::AddC(..) | Op::SubC(..) | Op::CSub(..) | Op::MulC(..) | Op::DivC(..) | Op::CDiv(..) => unreachable!("emitted above"),
                };
            }
            if outside.contains(&ins.out) {
                for (v, &val) in out.iter().enumerate() {
                    b.ins().store(mem, val, base, reg_at(ins.out, v));
                }
            }
            values.insert(ins.out, out);
        }
        let step = (VECTORS * VECTOR_BYTES) as i64;
        let next = b.ins().iadd_imm_s(offset, step);
        let end = b.ins().iconst(ptr, (LANES * size) as i64);
        let more = b.ins().icmp(cranelift_codegen::ir::condcodes::IntCC::UnsignedLessThan, next, end);
        b.ins().brif(more, body, &[next.into()], exit, &[]);
        b.seal_block(body);
        b.switch_to_block(exit);
        b.seal_block(exit);
        b.ins().return_(&[]);
        b.finalize(frontend);
    }
    let id = module.declare_function(&format!("list{li}"), Linkage::Local, &ctx.func.signature).map_err(|e| err(&e))?;
    module.define_function(id, &mut ctx).map_err(|e| err(&e))?;
    module.clear_context(&mut ctx);
    Ok((id, bytemuck::cast_slice(&pool).to_vec()))
}
