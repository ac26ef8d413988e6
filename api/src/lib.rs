//! rudder-api: the shared, I/O-free description of the Kubernetes API that every Rudder
//! component agrees on.
//!
//! Start with [`catalog`]: the table of every built-in resource (group, version, kind, plural,
//! scope, short names, categories, verbs, subresources) that the apiserver serves and that
//! discovery advertises.
#![forbid(unsafe_code)]

pub mod catalog;
