//! v1_apptokens
