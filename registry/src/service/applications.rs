//! applications (see the API module of the same family).
