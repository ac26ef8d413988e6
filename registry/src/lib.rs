//! rudder-registry (work in progress).
