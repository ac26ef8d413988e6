//! rudder-openapi (work in progress).
