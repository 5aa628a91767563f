//! Discovery. Being written.
