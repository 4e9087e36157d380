//! The strategies generate what they promise: valid inputs that Tally accepts,
//! invalid events that it rejects with the expected code.

mod catalog;
mod events;
mod invalid;
