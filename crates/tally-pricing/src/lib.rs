//! Tally pricing (in progress).
