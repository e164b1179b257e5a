//! Status conditions and component readiness.
