//! SQL for apptokens.
