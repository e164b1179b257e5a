//! v1_starred
