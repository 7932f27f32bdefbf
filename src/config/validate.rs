//! config validate
