//! rudder-apiserver (work in progress).
