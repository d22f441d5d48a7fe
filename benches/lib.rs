//! Shared helpers for the benchmarks live in the bench files; this crate only hosts them.
