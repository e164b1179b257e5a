//! The QuayRegistry reconciler.
