//! v1_sessions
