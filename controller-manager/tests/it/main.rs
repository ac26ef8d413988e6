//! Integration tests of kube-controller-manager against a real kube-apiserver started
//! in-process on the embedded store. One test binary with a module per controller: each
//! extra binary would link the whole apiserver again, which dominates CI build time.

mod common;
mod cronjob;
mod daemonset;
mod deployment;
mod disruption;
mod endpointslice;
mod endpointslicemirroring;
mod garbagecollector;
mod informer;
mod job;
mod manager;
mod namespace;
mod namespace_defaults;
mod nodeipam;
mod nodelifecycle;
mod podgc;
mod replicaset;
mod replicationcontroller;
mod resourcequota;
mod serving;
mod statefulset;
