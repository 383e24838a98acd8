//! What is minimised: objectives as expression graphs with symbolic derivatives, the built-in
//! catalogue, data tables for models trained on data, the numeric type both backends compute
//! in, and the small linear algebra the analyses need.
pub mod catalogue;
pub mod data;
pub mod elementary;
pub mod expr;
pub mod linalg;
pub mod model;
pub mod npy;
pub mod random;
pub mod real;
