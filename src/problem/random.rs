//! Counter-based random numbers, the same on both backends: Philox4x32-10 (Salmon, Moraes,
//! Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the generator of
//! cuRAND, JAX's `jax.random` alternative and PyTorch's CUDA generator), and what mini-batches
//! are drawn from it. shaders/random.wgsl is the GPU twin of every function here, with the same
//! names and the same integer operations, so the two take exactly the same batches.
//!
//! A run's batches depend on its `seed` and the step t alone (t = the updates made before the
//! point is evaluated; a line search's trials reuse the step's batch):
//! - **shuffle** (without replacement within an epoch, PyTorch's `DataLoader(shuffle=True)`,
//!   `drop_last=False`): with B the batch size and m rows, an epoch is ⌈m/B⌉ steps, step t is
//!   batch j = t mod ⌈m/B⌉ of epoch e = ⌊t/⌈m/B⌉⌋, and holds the rows π_e(p) for the positions
//!   p ∈ [j·B, min((j + 1)·B, m)) (the last batch of an epoch may be smaller). π_e is a random
//!   permutation of the rows: a 4-round Feistel network on 2h bits (2^2h ≥ m) whose round keys are
//!   Philox4x32-10(counter (e, 0, 0, 0), key (seed, SHUFFLE_STREAM)), each round's function the
//!   `lowbias32` hash of the half-word xor the key, restricted to [0, m) by cycle walking (Black &
//!   Rogaway, "Ciphers with arbitrary finite domains", CT-RSA 2002). A batch of every row (B ≥ m)
//!   is the table in order, so `batch_size = m` is full-batch GD bit for bit.
//! - **replacement**: slot k of step t is row ⌊u·m/2³²⌋ with u the first word of
//!   Philox4x32-10(counter (t, k, 0, 0), key (seed, REPLACEMENT_STREAM)) (Lemire's
//!   multiply-shift; its bias is below m/2³²).

/// Philox4x32's multipliers and Weyl key increments (Random123's PHILOX_M4x32_*, PHILOX_W32_*).
const M0: u32 = 0xD251_1F53;
const M1: u32 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// The second key word of each use, so that shuffles and draws never share a stream.
pub const SHUFFLE_STREAM: u32 = 0x5348_5546; // "SHUF"
pub const REPLACEMENT_STREAM: u32 = 0x5245_504C; // "REPL"

/// The second key word of seeded initial points.
pub const INIT_STREAM: u32 = 0x494E_4954; // "INIT"

/// A standard normal draw for parameter `index` of an initial point with `seed` (host only, f64):
/// Box–Muller on the first two words of Philox4x32-10(counter (index, 0, 0, 0), key
/// (seed, INIT_STREAM)), u₁ = (w₀ + 1)/2³² ∈ (0, 1], u₂ = w₁/2³²: √(−2 ln u₁)·cos(2πu₂).
pub fn normal(seed: u32, index: u32) -> f64 {
    let w = philox4x32_10([index, 0, 0, 0], [seed, INIT_STREAM]);
    let (u1, u2) = ((w[0] as f64 + 1.0) / 4294967296.0, w[1] as f64 / 4294967296.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The WGSL twin (shaders/random.wgsl).
pub const WGSL: &str = include_str!("../../shaders/random.wgsl");

fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32 with 10 rounds.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for r in 0..10 {
        if r > 0 {
            k = [k[0].wrapping_add(W0), k[1].wrapping_add(W1)];
        }
        let (hi0, lo0) = mulhilo(M0, c[0]);
        let (hi1, lo1) = mulhilo(M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// Chris Wellons' `lowbias32` integer hash (hash-prospector), the Feistel round function.
pub fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Half the bits of the Feistel domain for m rows: the least h ≥ 1 with 4^h ≥ m.
pub fn half_bits(m: u32) -> u32 {
    let mut h = 1;
    while h < 16 && (1u64 << (2 * h)) < m as u64 {
        h += 1;
    }
    h
}

/// π_e(p): the row at position p of an epoch whose round keys are `keys`, for m rows.
pub fn shuffled_row(p: u32, m: u32, keys: [u32; 4]) -> u32 {
    let h = half_bits(m);
    let mask = (1u32 << h) - 1;
    let mut v = p;
    loop {
        let (mut l, mut r) = (v >> h, v & mask);
        for key in keys {
            let next = l ^ (lowbias32(r ^ key) & mask);
            l = r;
            r = next;
        }
        v = (l << h) | r;
        if v < m {
            return v;
        }
    }
}

/// The rows of step t of a run with `seed`, batch size `batch` and m rows (see the module docs).
pub fn batch_rows(seed: u32, t: u32, batch: u32, m: u32, shuffle: bool) -> Vec<u32> {
    let mut rows = Vec::new();
    batch_rows_into(&mut rows, seed, t, batch, m, shuffle);
    rows
}

/// [`batch_rows`] into `rows` (cleared first), so a hot loop reuses its buffer.
pub fn batch_rows_into(rows: &mut Vec<u32>, seed: u32, t: u32, batch: u32, m: u32, shuffle: bool) {
    rows.clear();
    if shuffle {
        if batch >= m {
            rows.extend(0..m);
            return;
        }
        let per_epoch = m.div_ceil(batch);
        let (epoch, j) = (t / per_epoch, t % per_epoch);
        let keys = philox4x32_10([epoch, 0, 0, 0], [seed, SHUFFLE_STREAM]);
        rows.extend((j * batch..((j + 1) * batch).min(m)).map(|p| shuffled_row(p, m, keys)));
    } else {
        rows.extend((0..batch).map(|k| mulhilo(philox4x32_10([t, k, 0, 0], [seed, REPLACEMENT_STREAM])[0], m).0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random123's known-answer vectors for philox4x32_10 (kat_vectors).
    #[test]
    fn philox_matches_random123() {
        assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn a_shuffled_epoch_visits_every_row_once() {
        for m in [1u32, 2, 3, 5, 17, 272, 1000] {
            for batch in [1u32, 3, 16, 999] {
                let per_epoch = m.div_ceil(batch.min(m));
                for epoch in 0..3 {
                    let mut seen: Vec<u32> = (0..per_epoch).flat_map(|j| batch_rows(7, epoch * per_epoch + j, batch, m, true)).collect();
                    seen.sort();
                    assert_eq!(seen, (0..m).collect::<Vec<_>>(), "m {m}, batch {batch}, epoch {epoch}");
                }
            }
        }
        // Epochs and seeds give different orders.
        let order = |seed, t| batch_rows(seed, t, 1000, 1000 + 1, true);
        assert_ne!(batch_rows(1, 0, 5, 100, true), batch_rows(1, 20, 5, 100, true));
        assert_ne!(batch_rows(1, 0, 5, 100, true), batch_rows(2, 0, 5, 100, true));
        assert_eq!(order(3, 0).len(), 1000);
    }

    #[test]
    fn normal_draws_have_mean_0_and_variance_1() {
        let z: Vec<f64> = (0..20000).map(|i| normal(5, i)).collect();
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.04, "{mean} {var}");
        assert_ne!(normal(5, 0), normal(6, 0));
    }

    #[test]
    fn draws_with_replacement_are_uniform() {
        let m = 10u32;
        let mut counts = [0u32; 10];
        for t in 0..2000 {
            for r in batch_rows(42, t, 8, m, false) {
                counts[r as usize] += 1;
            }
        }
        // 16,000 draws: 1,600 expected per row, σ = 38.
        assert!(counts.iter().all(|&c| (1450..1750).contains(&c)), "{counts:?}");
    }
}
