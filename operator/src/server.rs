//! Health and metrics endpoints of the operator process.
