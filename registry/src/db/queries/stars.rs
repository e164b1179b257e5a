//! SQL for stars.
