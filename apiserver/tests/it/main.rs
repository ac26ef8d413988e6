//! Integration tests of kube-apiserver: the server runs in-process on port 0, on SQLite
//! and on a real etcd. One binary with modules, so CI links the apiserver into tests once.

mod api;
mod common;
mod default_tolerations;
mod eviction;
mod quota;
mod semantics;
