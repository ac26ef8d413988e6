//! node: see the crate docs; not written yet.
