//! v1_applications
