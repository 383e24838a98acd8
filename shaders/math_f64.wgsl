// Elementary functions at f64, in software: Vulkan's GLSL.std.450 defines exp, log, sin, cos,
// tan, tanh and pow for 16- and 32-bit floats only (lavapipe returns garbage for doubles), so
// these use only +, -, *, /, round and ldexp, which are exact or correctly defined for
// f64. Method (as in fdlibm, Sun Microsystems 1993): Cody-Waite range reduction, then Taylor
// polynomials on the reduced interval, truncated where the next term is below 2^-60 of the
// result. Accuracy: a few ulp for |x| < 1e6 (sin/cos lose accuracy beyond, as |x|·2^-85).
// The CPU reference uses Rust's f64 functions (correctly rounded to < 1 ulp), so the two
// paths differ by a few ulp here; verify compares by tolerance.
// Spliced into sweep.wgsl as {{MATH}}; the f32 twin is math_f32.wgsl.

const LN2_HI: f64 = f64(6.93147180369123816490e-01);
const LN2_LO: f64 = f64(1.90821492927058770002e-10);
const INV_LN2: f64 = f64(1.44269504088896338700e+00);
const TWO_OVER_PI: f64 = f64(6.36619772367581382433e-01);
const PIO2_1: f64 = f64(1.57079632673412561417e+00);
const PIO2_2: f64 = f64(6.07710050630396597660e-11);
const PIO2_3: f64 = f64(2.02226624871116645580e-21);

fn real_exp(x: f64) -> f64 {
    if (x != x) { return x; }
    if (x > f64(709.782712893384)) { return x * f64(1e308); }
    if (x < f64(-745.2)) { return f64(0.0); }
    let k = round(x * INV_LN2);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    var p = f64(1.6059043836821613e-10);
    p = p * r + f64(2.08767569878681e-09);
    p = p * r + f64(2.505210838544172e-08);
    p = p * r + f64(2.755731922398589e-07);
    p = p * r + f64(2.7557319223985893e-06);
    p = p * r + f64(2.48015873015873e-05);
    p = p * r + f64(0.0001984126984126984);
    p = p * r + f64(0.001388888888888889);
    p = p * r + f64(0.008333333333333333);
    p = p * r + f64(0.041666666666666664);
    p = p * r + f64(0.16666666666666666);
    p = p * r + f64(0.5);
    p = p * r + f64(1.0);
    p = p * r + f64(1.0);
    return ldexp(p, i32(k));
}

// e^y - 1 without cancellation, for |y| <= 1.1.
fn expm1_small(y: f64) -> f64 {
    var p = f64(4.110317623312165e-19);
    p = p * y + f64(8.22063524662433e-18);
    p = p * y + f64(1.5619206968586225e-16);
    p = p * y + f64(2.8114572543455206e-15);
    p = p * y + f64(4.779477332387385e-14);
    p = p * y + f64(7.647163731819816e-13);
    p = p * y + f64(1.1470745597729725e-11);
    p = p * y + f64(1.6059043836821613e-10);
    p = p * y + f64(2.08767569878681e-09);
    p = p * y + f64(2.505210838544172e-08);
    p = p * y + f64(2.755731922398589e-07);
    p = p * y + f64(2.7557319223985893e-06);
    p = p * y + f64(2.48015873015873e-05);
    p = p * y + f64(0.0001984126984126984);
    p = p * y + f64(0.001388888888888889);
    p = p * y + f64(0.008333333333333333);
    p = p * y + f64(0.041666666666666664);
    p = p * y + f64(0.16666666666666666);
    p = p * y + f64(0.5);
    p = p * y + f64(1.0);
    return p * y;
}

fn real_log(x: f64) -> f64 {
    if (x == f64(0.0)) { return f64(-1.0) / x; }
    if (!(x > f64(0.0))) { return (x - x) / (x - x); }
    if (x > f64(1.7976931348623157e308)) { return x; }
    // x = m·2^e with m in [√½, √2): coarse steps of 2^±100 bring m into f32's range, an f32
    // log2 estimates e to within one, and the two checks after it make the interval exact.
    // (No frexp: naga types its f64 exponent as i64, which needs SHADER_INT64.)
    var m = x;
    var e = f64(0.0);
    for (var i = 0; i < 12 && m > f64(1.2676506002282294e30); i++) {
        m = m * f64(7.888609052210118e-31);
        e = e + f64(100.0);
    }
    for (var i = 0; i < 12 && m < f64(7.888609052210118e-31); i++) {
        m = m * f64(1.2676506002282294e30);
        e = e - f64(100.0);
    }
    let k = i32(round(log2(f32(m))));
    m = ldexp(m, -k);
    e = e + f64(k);
    if (m < f64(0.70710678118654752440)) {
        m = m * f64(2.0);
        e = e - f64(1.0);
    }
    if (m >= f64(1.4142135623730950488)) {
        m = m * f64(0.5);
        e = e + f64(1.0);
    }
    let f = m - f64(1.0);
    let s = f / (f64(2.0) + f);
    let z = s * s;
    var p = f64(0.047619047619047616);
    p = p * z + f64(0.05263157894736842);
    p = p * z + f64(0.058823529411764705);
    p = p * z + f64(0.06666666666666667);
    p = p * z + f64(0.07692307692307693);
    p = p * z + f64(0.09090909090909091);
    p = p * z + f64(0.1111111111111111);
    p = p * z + f64(0.14285714285714285);
    p = p * z + f64(0.2);
    p = p * z + f64(0.3333333333333333);
    p = p * z + f64(1.0);
    return e * LN2_HI + (f64(2.0) * s * p + e * LN2_LO);
}

fn sin_poly(r: f64) -> f64 {
    let z = r * r;
    var p = f64(2.8114572543455206e-15);
    p = p * z + f64(-7.647163731819816e-13);
    p = p * z + f64(1.6059043836821613e-10);
    p = p * z + f64(-2.505210838544172e-08);
    p = p * z + f64(2.7557319223985893e-06);
    p = p * z + f64(-0.0001984126984126984);
    p = p * z + f64(0.008333333333333333);
    p = p * z + f64(-0.16666666666666666);
    p = p * z + f64(1.0);
    return r * p;
}

fn cos_poly(r: f64) -> f64 {
    let z = r * r;
    var p = f64(-1.5619206968586225e-16);
    p = p * z + f64(4.779477332387385e-14);
    p = p * z + f64(-1.1470745597729725e-11);
    p = p * z + f64(2.08767569878681e-09);
    p = p * z + f64(-2.755731922398589e-07);
    p = p * z + f64(2.48015873015873e-05);
    p = p * z + f64(-0.001388888888888889);
    p = p * z + f64(0.041666666666666664);
    p = p * z + f64(-0.5);
    p = p * z + f64(1.0);
    return p;
}

struct Reduced {
    r: f64,
    quadrant: i32,
}

// x = k·π/2 + r with |r| <= π/4; quadrant = k mod 4.
fn reduce_pio2(x: f64) -> Reduced {
    let k = round(x * TWO_OVER_PI);
    let r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    return Reduced(r, i32(k) & 3);
}

fn real_sin(x: f64) -> f64 {
    let q = reduce_pio2(x);
    switch q.quadrant {
        case 0: { return sin_poly(q.r); }
        case 1: { return cos_poly(q.r); }
        case 2: { return -sin_poly(q.r); }
        default: { return -cos_poly(q.r); }
    }
}

fn real_cos(x: f64) -> f64 {
    let q = reduce_pio2(x);
    switch q.quadrant {
        case 0: { return cos_poly(q.r); }
        case 1: { return -sin_poly(q.r); }
        case 2: { return -cos_poly(q.r); }
        default: { return sin_poly(q.r); }
    }
}

fn real_tan(x: f64) -> f64 {
    let q = reduce_pio2(x);
    if ((q.quadrant & 1) == 0) {
        return sin_poly(q.r) / cos_poly(q.r);
    }
    return -cos_poly(q.r) / sin_poly(q.r);
}

fn real_tanh(x: f64) -> f64 {
    let a = abs(x);
    if (a > f64(22.0)) { return sign(x); }
    if (a < f64(0.55)) {
        let em1 = expm1_small(f64(2.0) * x);
        return em1 / (em1 + f64(2.0));
    }
    let e = real_exp(f64(2.0) * a);
    let t = f64(1.0) - f64(2.0) / (e + f64(1.0));
    return select(t, -t, x < f64(0.0));
}

fn real_pow(a: f64, b: f64) -> f64 {
    return real_exp(b * real_log(a));
}
