//! SQL for prototypes.
