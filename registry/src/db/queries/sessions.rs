//! SQL for sessions.
