//! rudder-printers (work in progress).
