//! Maps (`[analysis.map]`): the runs laid out over one or two axes, coloured by an outcome.
//!
//! - `x` (and optionally `y`) name axes: `lr`, a hyperparameter (`beta`, `lr_scale_y`, …) or
//!   `init_<var>`. Every optimizer block that has them contributes; every combination of a
//!   block's other axes is one *panel* (2-D: small multiples side by side) or one *series*
//!   (1-D: one line each). The axes must have the same values in every block that has them.
//! - `color`: `status` (default; converged in blues shaded by steps, diverged in reds shaded
//!   by escape step, the other statuses in their own colours — the escape-time colouring of the
//!   trainability-boundary pictures), `basin` (turns on `[analysis.basins]` with its default
//!   tolerance where the config has no such table), `steps`, `evals`, `loss`, `rate`,
//!   `sharpness` and `edge_ratio` (see [`super::sharpness`]; they turn on its final values),
//!   and `trainability` (Sohl-Dickstein 2024, [`crate::outcome::Trainability`]: trained runs in
//!   blues, the others in reds, each shaded by the rank of its value among its side's, as the
//!   paper's notebook does; turns on `[analysis.trainability]`).
//!
//! Files: `map.csv` (tidy: one row per run on the map), `map_grid.csv` (2-D: per panel, one
//! row per y value and one column per x value; 1-D: one row per x value and one column per
//! series), `map.png` (see [`crate::output::plot`]).

use super::Derived;
use crate::error::{Error, Result};
use crate::outcome::{Results, Status};
use crate::plan::analyses::{axis_pos, Colour, MapSpec};
use crate::plan::Plan;

/// One axis of the map: its name, values and spacing.
#[derive(Debug, Clone)]
pub struct MapAxis {
    pub name: String,
    pub values: Vec<f64>,
    pub log: bool,
}

/// One panel (2-D) or series (1-D): a block and a fixed value of each of its other axes.
/// Cell c = iy·nx + ix holds the block's run `base + ix·stride_x + iy·stride_y` (block-local).
#[derive(Debug, Clone)]
pub struct Panel {
    pub block: usize,
    pub label: String,
    pub base: u64,
    pub stride_x: u64,
    pub stride_y: u64,
}

/// Where a block's runs land on the map: its first panel, the positions of the map's axes
/// among its axes, and its other axes (combination index: the last of them fastest).
#[derive(Debug, Clone)]
struct BlockPlace {
    first_panel: usize,
    pos: Vec<usize>,
    others: Vec<usize>,
    /// Row-major stride and length of each of the block's axes.
    stride: Vec<u64>,
    len: Vec<u64>,
}

/// The layout of a map: which run every cell of every panel shows (no results: those are in
/// [`MapCells`]).
pub struct Map {
    pub spec: MapSpec,
    pub x: MapAxis,
    pub y: Option<MapAxis>,
    pub panels: Vec<Panel>,
    places: Vec<Option<BlockPlace>>,
}

impl Map {
    pub fn nx(&self) -> usize {
        self.x.values.len()
    }

    /// Cells of one panel: nx·ny (1-D: nx).
    pub fn cells_per_panel(&self) -> usize {
        self.nx() * self.y.as_ref().map_or(1, |a| a.values.len())
    }

    pub fn cells(&self) -> u64 {
        self.panels.len() as u64 * self.cells_per_panel() as u64
    }

    /// The run id that cell `c` of panel `k` shows.
    pub fn run_of(&self, plan: &Plan, k: usize, c: usize) -> u64 {
        let p = &self.panels[k];
        let (ix, iy) = ((c % self.nx()) as u64, (c / self.nx()) as u64);
        plan.blocks[p.block].first_run + p.base + ix * p.stride_x + iy * p.stride_y
    }

    /// The (panel, cell) that shows run `id`, where its block is on the map.
    pub fn place(&self, plan: &Plan, id: u64) -> Option<(usize, usize)> {
        let (bi, local) = plan.locate(id)?;
        let place = self.places[bi].as_ref()?;
        // (Per run, as chunks stream: the digits it needs, without decoding into a Vec.)
        let digit = |k: usize| ((local / place.stride[k]) % place.len[k]) as usize;
        let combo = place.others.iter().fold(0usize, |acc, &k| acc * place.len[k] as usize + digit(k));
        let ix = digit(place.pos[0]);
        let iy = place.pos.get(1).map_or(0, |&p| digit(p));
        Some((place.first_panel + combo, iy * self.nx() + ix))
    }
}

/// Lay the map out over the plan's blocks (see the module docs).
pub fn build(plan: &Plan, spec: &MapSpec) -> Map {
    let names: Vec<&str> = std::iter::once(spec.x.as_str()).chain(spec.y.as_deref()).collect();
    let mut map_axes: Vec<Option<MapAxis>> = vec![None, None];
    let mut panels = Vec::new();
    let mut places = Vec::new();
    let many_blocks = plan.blocks.iter().filter(|b| names.iter().all(|n| axis_pos(b, n).is_some())).count() > 1;
    for (bi, block) in plan.blocks.iter().enumerate() {
        let Some(pos) = names.iter().map(|n| axis_pos(block, n)).collect::<Option<Vec<usize>>>() else {
            places.push(None);
            continue;
        };
        for (k, &p) in pos.iter().enumerate() {
            let a = &block.axes[p];
            map_axes[k].get_or_insert_with(|| MapAxis { name: a.name.clone(), values: a.values.clone(), log: a.log });
        }
        let others: Vec<usize> = (0..block.axes.len()).filter(|k| !pos.contains(k)).collect();
        let combos: usize = others.iter().map(|&k| block.axes[k].values.len()).product();
        // Row-major strides of the block's axes (last axis fastest).
        let mut stride = vec![1u64; block.axes.len()];
        for k in (0..block.axes.len().saturating_sub(1)).rev() {
            stride[k] = stride[k + 1] * block.axes[k + 1].values.len() as u64;
        }
        let len = block.axes.iter().map(|a| a.values.len() as u64).collect();
        places.push(Some(BlockPlace { first_panel: panels.len(), pos: pos.clone(), others: others.clone(), stride: stride.clone(), len }));
        for c in 0..combos {
            // Digits of the other axes for combination c (last of them fastest).
            let mut rem = c;
            let mut base = 0u64;
            let mut label: Vec<String> = Vec::new();
            for &k in others.iter().rev() {
                let n = block.axes[k].values.len();
                let d = rem % n;
                rem /= n;
                base += d as u64 * stride[k];
                if n > 1 {
                    label.push(format!("{}={}", block.axes[k].name, short(block.axes[k].values[d])));
                }
            }
            label.reverse();
            if many_blocks || label.is_empty() {
                label.insert(0, block.optimizer.name().to_string());
            }
            let stride_y = pos.get(1).map_or(0, |&p| stride[p]);
            panels.push(Panel { block: bi, label: label.join(" "), base, stride_x: stride[pos[0]], stride_y });
        }
    }
    disambiguate(plan, &mut panels);
    let mut it = map_axes.into_iter();
    Map { spec: spec.clone(), x: it.next().flatten().expect("checked: some block has the axes"), y: it.next().flatten(), panels, places }
}

/// What a map shows of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub status: Status,
    pub steps: u32,
    pub evals: u32,
    pub loss: f64,
    pub rate: f64,
    pub steps_left: f64,
    pub basin: Option<usize>,
    /// λ_max at the final point and the run's edge of stability (NaN: not computed, or none).
    pub sharpness: f64,
    pub edge: f64,
    /// The trainability measure (outcome::Trainability::measure; NaN: not recorded, or unknown).
    pub trainability: f64,
}

impl Cell {
    /// Bytes of one cell in [`MapCells`].
    pub const BYTES: usize = 1 + 4 + 4 + 8 + 8 + 8 + 4 + 8 + 8 + 8;

    fn encode(&self, out: &mut [u8]) {
        out[0] = self.status as u8;
        out[1..5].copy_from_slice(&self.steps.to_le_bytes());
        out[5..9].copy_from_slice(&self.basin.map_or(u32::MAX, |b| b as u32).to_le_bytes());
        out[9..17].copy_from_slice(&self.loss.to_le_bytes());
        out[17..25].copy_from_slice(&self.rate.to_le_bytes());
        out[25..33].copy_from_slice(&self.steps_left.to_le_bytes());
        out[33..37].copy_from_slice(&self.evals.to_le_bytes());
        out[37..45].copy_from_slice(&self.sharpness.to_le_bytes());
        out[45..53].copy_from_slice(&self.edge.to_le_bytes());
        out[53..61].copy_from_slice(&self.trainability.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Cell {
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let f64_at = |i: usize| f64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let basin = u32_at(5);
        Cell {
            status: Status::from_u32(b[0] as u32),
            steps: u32_at(1),
            basin: (basin != u32::MAX).then_some(basin as usize),
            loss: f64_at(9),
            rate: f64_at(17),
            steps_left: f64_at(25),
            evals: u32_at(33),
            sharpness: f64_at(37),
            edge: f64_at(45),
            trainability: f64_at(53),
        }
    }

    /// The value a continuous map shows, where it applies (NaN elsewhere): `steps` of converged
    /// runs (steps to converge; an escape step is another quantity), the final `loss` of stable
    /// runs, the measured `rate` of runs classified at `steps`, the final `sharpness` of converged
    /// runs and its ratio to the edge of stability (`edge_ratio`: the edge is about minima), and
    /// the trainability measure of every run whose record is known.
    pub fn continuous_value(&self, c: Colour) -> f64 {
        match c {
            Colour::Steps if self.status == Status::Converged => self.steps as f64,
            Colour::Evals if self.status == Status::Converged => self.evals as f64,
            Colour::Loss if !self.status.is_unstable() => self.loss,
            Colour::Sharpness if self.status == Status::Converged => self.sharpness,
            Colour::EdgeRatio if self.status == Status::Converged => self.sharpness / self.edge,
            Colour::Rate => self.rate,
            Colour::Trainability => self.trainability,
            _ => f64::NAN,
        }
    }
}

/// What the pictures' legends need to know of all the cells, gathered as they arrive.
#[derive(Debug, Clone)]
pub struct CellStats {
    pub cells: u64,
    /// Cells per status (indexed by `Status as usize`).
    pub by_status: [u64; Status::FINAL.len() + 1],
    /// Cells per basin id.
    pub by_basin: Vec<u64>,
    /// Some cell has no basin and did not diverge.
    pub unlabelled_not_diverged: bool,
    /// Range of the map colour's continuous value over the cells where it is finite.
    pub lo: f64,
    pub hi: f64,
    /// Per status: some cell's continuous value is not finite / is ≤ 0 (not on a log bar).
    pub not_finite: [bool; Status::FINAL.len() + 1],
    pub not_positive: [bool; Status::FINAL.len() + 1],
}

impl CellStats {
    pub fn seen(&self, s: Status) -> bool {
        self.by_status[s as usize] > 0
    }
}

/// Where the cells live: in memory up to [`MapCells::IN_MEMORY`] bytes, else in an unnamed
/// temporary file in the result folder (deleted by the system when closed), so a map of 10⁹
/// cells costs disk, not memory.
enum Backing {
    Memory(Vec<u8>),
    File(std::fs::File),
}

/// Every cell of a map, filled chunk by chunk as results arrive (in any order), then read by
/// map.csv, map_grid.csv and map.png.
pub struct MapCells {
    backing: Backing,
    per_panel: usize,
    colour: Colour,
    pub stats: CellStats,
}

impl MapCells {
    pub const IN_MEMORY: u64 = 256 << 20;

    /// Empty cells for `map`; a large map's go to a temporary file in `dir`.
    pub fn new(map: &Map, dir: &std::path::Path) -> Result<MapCells> {
        let bytes = map.cells() * Cell::BYTES as u64;
        let backing = if bytes <= Self::IN_MEMORY {
            Backing::Memory(vec![0; bytes as usize])
        } else {
            let f = tempfile::tempfile_in(dir).map_err(|e| Error::io(format!("creating the map's cell file in {}", dir.display()), e))?;
            f.set_len(bytes).map_err(|e| Error::io("sizing the map's cell file", e))?;
            Backing::File(f)
        };
        Ok(MapCells {
            backing,
            per_panel: map.cells_per_panel(),
            colour: map.spec.color,
            stats: CellStats {
                cells: map.cells(),
                by_status: [0; Status::FINAL.len() + 1],
                by_basin: Vec::new(),
                unlabelled_not_diverged: false,
                lo: f64::INFINITY,
                hi: f64::NEG_INFINITY,
                not_finite: [false; Status::FINAL.len() + 1],
                not_positive: [false; Status::FINAL.len() + 1],
            },
        })
    }

    /// The cells of a whole sweep's results at once, in memory (tests, small maps).
    pub fn of_results(plan: &Plan, map: &Map, r: &Results, derived: &Derived) -> MapCells {
        let mut cells = MapCells::new(map, std::path::Path::new(".")).expect("small maps are in memory");
        cells.observe(plan, map, r, derived).expect("memory writes cannot fail");
        cells
    }

    /// Put the rows of `r` (with their basins and sharpness) in their cells.
    pub fn observe(&mut self, plan: &Plan, map: &Map, r: &Results, derived: &Derived) -> Result<()> {
        let (labels, finals) = (derived.basins.as_deref(), derived.sharpness.as_ref());
        let mut placed: Vec<(u64, Cell)> = Vec::with_capacity(r.len());
        for i in 0..r.len() {
            let Some((k, c)) = map.place(plan, r.run[i]) else { continue };
            let cell = Cell {
                status: r.status[i],
                steps: r.steps[i],
                evals: r.evals[i],
                loss: r.loss[i],
                rate: r.rate[i],
                steps_left: r.steps_left[i],
                basin: labels.and_then(|l| l[i]),
                sharpness: finals.map_or(f64::NAN, |f| f.sharpness[i]),
                edge: finals.map_or(f64::NAN, |f| f.edge[i]),
                trainability: r.train.get(i).map_or(f64::NAN, |t| t.measure()),
            };
            self.count(&cell);
            placed.push(((k * self.per_panel + c) as u64, cell));
        }
        placed.sort_by_key(|p| p.0);
        // Consecutive slots are written together.
        let mut buf: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < placed.len() {
            let start = placed[i].0;
            let mut j = i;
            buf.clear();
            while j < placed.len() && placed[j].0 == start + (j - i) as u64 {
                let at = buf.len();
                buf.resize(at + Cell::BYTES, 0);
                placed[j].1.encode(&mut buf[at..]);
                j += 1;
            }
            self.write_at(start * Cell::BYTES as u64, &buf)?;
            i = j;
        }
        Ok(())
    }

    fn count(&mut self, cell: &Cell) {
        let st = &mut self.stats;
        st.by_status[cell.status as usize] += 1;
        match cell.basin {
            Some(b) => {
                if st.by_basin.len() <= b {
                    st.by_basin.resize(b + 1, 0);
                }
                st.by_basin[b] += 1;
            }
            None if cell.status != Status::Diverged => st.unlabelled_not_diverged = true,
            None => {}
        }
        let v = cell.continuous_value(self.colour);
        if v.is_finite() {
            st.lo = st.lo.min(v);
            st.hi = st.hi.max(v);
        } else {
            st.not_finite[cell.status as usize] = true;
        }
        if v.is_finite() && v <= 0.0 {
            st.not_positive[cell.status as usize] = true;
        }
    }

    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<()> {
        match &mut self.backing {
            Backing::Memory(v) => {
                v[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
                Ok(())
            }
            Backing::File(f) => std::os::unix::fs::FileExt::write_all_at(f, bytes, offset).map_err(|e| Error::io("writing the map's cell file", e)),
        }
    }

    /// Cells `range` of panel `k`, in order.
    pub fn read(&self, k: usize, range: std::ops::Range<usize>) -> Result<Vec<Cell>> {
        let start = ((k * self.per_panel + range.start) * Cell::BYTES) as u64;
        let len = (range.end - range.start) * Cell::BYTES;
        let decode = |b: &[u8]| b.chunks_exact(Cell::BYTES).map(Cell::decode).collect();
        match &self.backing {
            Backing::Memory(v) => Ok(decode(&v[start as usize..start as usize + len])),
            Backing::File(f) => {
                let mut buf = vec![0u8; len];
                std::os::unix::fs::FileExt::read_exact_at(f, &mut buf, start).map_err(|e| Error::io("reading the map's cell file", e))?;
                Ok(decode(&buf))
            }
        }
    }

    /// Every cell of panel `k` (1-D maps: a series).
    pub fn panel(&self, k: usize) -> Result<Vec<Cell>> {
        self.read(k, 0..self.per_panel)
    }
}

/// Panels of different blocks with the same label (two `gd` tables, say) get the fixed
/// hyperparameter values that tell their blocks apart (`gd lr_scale_x=1e6 lr_scale_y=1`).
fn disambiguate(plan: &Plan, panels: &mut [Panel]) {
    let fixed = |bi: usize| -> Vec<String> {
        let b = &plan.blocks[bi];
        b.axes[1..1 + b.n_hypers()].iter().filter(|a| a.values.len() == 1).map(|a| format!("{}={}", a.name, short(a.values[0]))).collect()
    };
    let keys: Vec<(String, usize)> = panels.iter().map(|p| (p.label.clone(), p.block)).collect();
    for (k, p) in panels.iter_mut().enumerate() {
        let twins: Vec<usize> = (0..keys.len()).filter(|&j| keys[j].0 == keys[k].0 && keys[j].1 != keys[k].1).map(|j| keys[j].1).collect();
        if twins.is_empty() {
            continue;
        }
        let theirs: Vec<Vec<String>> = twins.iter().map(|&b| fixed(b)).collect();
        let extra: Vec<String> = fixed(p.block).into_iter().filter(|f| !theirs.iter().all(|t| t.contains(f))).collect();
        if !extra.is_empty() {
            p.label = format!("{} {}", p.label, extra.join(" "));
        }
    }
}

/// A value for labels: up to 4 significant digits.
pub fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let s = format!("{v:.3e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
        format!("{m}e{e}")
    }
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn short_labels() {
        assert_eq!(short(0.9), "0.9");
        assert_eq!(short(-2.5), "-2.5");
        assert_eq!(short(1.6030886e-5), "1.603e-5");
        assert_eq!(short(1234.6), "1235");
        assert_eq!(short(0.0), "0");
        assert_eq!(short(100000.0), "1e5");
    }
}
