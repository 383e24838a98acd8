// Counter-based random numbers and mini-batches: the GPU twin of src/problem/random.rs (same
// names, same integer operations; see there for the definitions). No loops but the cycle walk:
// lavapipe counts every loop pass against one limit per dispatch.

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;
const SHUFFLE_STREAM: u32 = 0x53485546u;
const REPLACEMENT_STREAM: u32 = 0x5245504Cu;

// The 64-bit product a·b as (high, low) words, from 16-bit limbs (WGSL has no 64-bit integers).
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return vec2<u32>(hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u), (mid << 16u) | (ll & 0xffffu));
}

fn philox_round(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
    let p0 = mulhilo(PHILOX_M0, c.x);
    let p1 = mulhilo(PHILOX_M1, c.z);
    return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}

fn philox_bump(k: vec2<u32>) -> vec2<u32> {
    return vec2<u32>(k.x + PHILOX_W0, k.y + PHILOX_W1);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = philox_round(counter, key);
    var k = philox_bump(key);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    c = philox_round(c, k);
    k = philox_bump(k);
    return philox_round(c, k);
}

fn lowbias32(v: u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    return x ^ (x >> 16u);
}

fn half_bits(m: u32) -> u32 {
    // The least h >= 1 with 4^h >= m (firstLeadingBit(m - 1) is ⌈log2 m⌉ - 1 for m >= 2).
    if (m <= 4u) {
        return 1u;
    }
    return (firstLeadingBit(m - 1u) + 2u) / 2u;
}

fn feistel(v: u32, h: u32, keys: vec4<u32>) -> u32 {
    let mask = (1u << h) - 1u;
    var l = v >> h;
    var r = v & mask;
    var next = l ^ (lowbias32(r ^ keys.x) & mask);
    l = r;
    r = next;
    next = l ^ (lowbias32(r ^ keys.y) & mask);
    l = r;
    r = next;
    next = l ^ (lowbias32(r ^ keys.z) & mask);
    l = r;
    r = next;
    next = l ^ (lowbias32(r ^ keys.w) & mask);
    l = r;
    r = next;
    return (l << h) | r;
}

fn shuffled_row(p: u32, m: u32, keys: vec4<u32>) -> u32 {
    let h = half_bits(m);
    var v = feistel(p, h, keys);
    loop {
        if (v < m) {
            break;
        }
        v = feistel(v, h, keys);
    }
    return v;
}

fn replacement_row(seed: u32, t: u32, k: u32, m: u32) -> u32 {
    return mulhilo(philox4x32_10(vec4<u32>(t, k, 0u, 0u), vec2<u32>(seed, REPLACEMENT_STREAM)).x, m).x;
}
