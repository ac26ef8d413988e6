//! Integration tests of kube-scheduler: a real kube-apiserver in-process (SQLite in a temp
//! dir, port 0) and the scheduler in-process against it. Nodes are plain Node objects with
//! status; there are no kubelets. One binary with a module per area, so CI links the
//! apiserver into the scheduler's tests once.

mod common;
mod failures;
mod leader;
mod placement;
mod preemption;
