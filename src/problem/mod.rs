//! What is minimised: objectives as expression graphs with symbolic derivatives, the built-in
//! catalogue, the numeric type both backends compute in, and the small linear algebra the
//! analyses need.
pub mod catalogue;
pub mod expr;
pub mod linalg;
pub mod real;
