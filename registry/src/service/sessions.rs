//! sessions (see the API module of the same family).
