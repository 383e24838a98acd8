//! parameters.npy (`[output] parameters = "npy"`): every run's final point as one 2-D array,
//! (runs, parameters), C order, little-endian f32 or f64 as the run precision, in run order
//! (a shard's file: its runs, in its order). The format is numpy's NPY version 1.0
//! (numpy.lib.format): the magic string, a header dict padded with spaces to a multiple of 64
//! bytes and ended by a newline, then the raw values. `numpy.load` reads it; the columns are the
//! objective's variables in order (manifest.json's `parameters.names`). Here, below the rest, as
//! the inputs' CSV tables are (problem::data): an input optimisation reads a row back
//! ([`read_row`]).

use crate::problem::real::Precision;

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

/// The rows of the final points `x` (runs × dim, row-major) at precision `p`.
pub fn rows(x: &[f64], p: Precision) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() * p.bytes());
    for &v in x {
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

/// Row `row` of a 2-D NPY 1.0 file of little-endian f32 or f64 (a parameters.npy).
pub fn read_row(path: &std::path::Path, row: u64) -> Result<Vec<f64>, String> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut start = [0u8; 10];
    f.read_exact(&mut start).map_err(|_| "not an NPY file".to_string())?;
    if &start[..8] != MAGIC {
        return Err("not an NPY 1.0 file".into());
    }
    let mut dict = vec![0u8; u16::from_le_bytes([start[8], start[9]]) as usize];
    f.read_exact(&mut dict).map_err(|_| "its header is cut short".to_string())?;
    let dict = String::from_utf8_lossy(&dict);
    let p = if dict.contains("'descr': '<f4'") {
        Precision::F32
    } else if dict.contains("'descr': '<f8'") {
        Precision::F64
    } else {
        return Err("holds no little-endian f32 or f64 values".into());
    };
    if dict.contains("'fortran_order': True") {
        return Err("is in Fortran order".into());
    }
    let shape: Vec<u64> = dict
        .split("'shape': (")
        .nth(1)
        .and_then(|t| t.split(')').next())
        .map(|t| t.split(',').filter(|v| !v.trim().is_empty()).filter_map(|v| v.trim().parse().ok()).collect())
        .unwrap_or_default();
    let [runs, dim] = shape[..] else { return Err(format!("is not a 2-D array (shape {shape:?})")) };
    if row >= runs {
        return Err(format!("has {runs} rows: row {row} is not one of them"));
    }
    f.seek(std::io::SeekFrom::Start(10 + dict.len() as u64 + row * row_bytes(dim as usize, p) as u64)).map_err(|e| e.to_string())?;
    let mut x = Vec::with_capacity(dim as usize);
    read_rows(&mut f, 1, dim as usize, p, &mut x).map_err(|e| e.to_string())?;
    Ok(x)
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
        let x = vec![1.5, -2.0, 0.1, 3.0];
        for p in [Precision::F32, Precision::F64] {
            let mut file = header(2, 2, p);
            file.extend(rows(&x, p));
            let mut at = &file[..];
            skip_header(&mut at).unwrap();
            let mut back = Vec::new();
            read_rows(&mut at, 2, 2, p, &mut back).unwrap();
            assert_eq!(back, x.iter().map(|&v| p.round(v)).collect::<Vec<_>>());
            assert!(at.is_empty());
        }
    }
}
