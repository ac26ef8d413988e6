//! container: see the crate docs; not written yet.
