//! v1_invites
