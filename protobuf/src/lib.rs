//! rudder-protobuf (work in progress).
