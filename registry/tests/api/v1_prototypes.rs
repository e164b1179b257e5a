//! v1_prototypes
