//! Filter translation (pending).
