// Elementary functions at f32: the GPU's own. Spliced into sweep.wgsl as {{MATH}}; the f64
// twin is math_f64.wgsl. The CPU port uses Rust's f32 functions.
fn real_exp(v: f32) -> f32 { return exp(v); }
fn real_log(v: f32) -> f32 { return log(v); }
fn real_sin(v: f32) -> f32 { return sin(v); }
fn real_cos(v: f32) -> f32 { return cos(v); }
fn real_tan(v: f32) -> f32 { return tan(v); }
fn real_tanh(v: f32) -> f32 { return tanh(v); }
fn real_pow(a: f32, b: f32) -> f32 { return pow(a, b); }
