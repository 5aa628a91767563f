//! AWS Storage Gateway client.
