//! parameters.npy (`[output] parameters = "npy"`): every run's final point as one 2-D array,
//! (runs, parameters), C order, little-endian f32 or f64 as the run precision, in run order
//! (a shard's file: its runs, in its order). The format is numpy's NPY version 1.0
//! (numpy.lib.format): the magic string, a header dict padded with spaces to a multiple of 64
//! bytes and ended by a newline, then the raw values. `numpy.load` reads it; the columns are the
//! objective's variables in order (manifest.json's `parameters.names`).

use crate::outcome::Results;
use crate::plan::Precision;

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// The header of a (runs, dim) array at precision `p`.
pub fn header(runs: u64, dim: usize, p: Precision) -> Vec<u8> {
    let descr = match p {
        Precision::F32 => "<f4",
        Precision::F64 => "<f8",
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({runs}, {dim}), }}");
    // Magic (8) + length (2) + dict + newline: a multiple of 64.
    let total = (MAGIC.len() + 2 + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - MAGIC.len() - 2 - dict.len() - 1));
    dict.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Bytes of one run's row.
pub fn row_bytes(dim: usize, p: Precision) -> usize {
    dim * p.bytes()
}

/// The rows of `r`'s final points at precision `p`.
pub fn rows(r: &Results, p: Precision) -> Vec<u8> {
    let mut out = Vec::with_capacity(r.x.len() * p.bytes());
    for &v in &r.x {
        match p {
            Precision::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
            Precision::F64 => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// Read `runs` rows of `dim` values from `from` (positioned at a row) into `x`.
pub fn read_rows(from: &mut dyn std::io::Read, runs: usize, dim: usize, p: Precision, x: &mut Vec<f64>) -> std::io::Result<()> {
    let mut buf = vec![0u8; runs * row_bytes(dim, p)];
    from.read_exact(&mut buf)?;
    match p {
        Precision::F32 => x.extend(buf.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)),
        Precision::F64 => x.extend(buf.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))),
    }
    Ok(())
}

/// Skip the header of a file that `header` wrote (its length is in bytes 8..10).
pub fn skip_header(from: &mut dyn std::io::Read) -> std::io::Result<()> {
    let mut start = [0u8; 10];
    from.read_exact(&mut start)?;
    if &start[..8] != MAGIC {
        return Err(std::io::Error::other("not an NPY 1.0 file"));
    }
    let mut dict = vec![0u8; u16::from_le_bytes([start[8], start[9]]) as usize];
    from.read_exact(&mut dict)

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_aligned_and_rows_read_back() {
        for (runs, dim, p) in [(3u64, 272usize, Precision::F32), (1 << 33, 2, Precision::F64)] {
            let h = header(runs, dim, p);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(*h.last().unwrap(), b'\n');
            let text = String::from_utf8_lossy(&h[10..]);
            assert!(text.contains(&format!("'shape': ({runs}, {dim})")), "{text}");
        }
        let r = Results { dim: 2, x: vec![1.5, -2.0, 0.1, 3.0], ..Default::default() };
        for p in [Precision::F32, Precision::F64] {
            let mut file = header(2, 2, p);
            file.extend(rows(&r, p));
            let mut at = &file[..];
            skip_header(&mut at).unwrap();
            let mut x = Vec::new();
            read_rows(&mut at, 2, 2, p, &mut x).unwrap();
            assert_eq!(x, r.x.iter().map(|&v| p.round(v)).collect::<Vec<_>>());
            assert!(at.is_empty());
        }
    }
}
