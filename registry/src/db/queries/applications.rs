//! SQL for applications.
