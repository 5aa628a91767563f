//! The simulated library (`sim:PATH`, contract C3). Being written.
