//! rudder-api: the shared, I/O-free description of the Kubernetes API that every Rudder
//! component agrees on.
//!
//! - [`catalog`]: the table of every built-in resource (group, version, kind, plural, scope,
//!   short names, categories, verbs, subresources) that the apiserver serves and discovery
//!   advertises, in upstream's discovery order, plus name resolution and etcd key layout.
//!   Start here.
//! - [`labels`]: label selectors (`labelSelector=` and `metav1.LabelSelector`) and upstream's
//!   name validators (qualified names, label values, DNS labels/subdomains) with their exact
//!   messages.
//! - [`fields`]: field selectors (`fieldSelector=`), and per resource which fields upstream
//!   lets you select on and how to read them from an object.
//! - [`quota`]: ResourceQuota evaluation (usage of pods/services/claims/objects, scopes,
//!   quantities) shared by the apiserver's admission and the resourcequota controller.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod fields;
pub mod labels;
pub mod quota;
