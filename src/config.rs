//! Validated module settings.
