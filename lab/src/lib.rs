//! # tcpknobs-lab
//!
//! Experiments on the tcpknobs stack, as a typed API.
//!
//! * [`values`]: the value parsers every front end shares (durations, sizes, rates,
//!   probabilities, port ranges, pages), each the inverse of its formatter.
#![warn(missing_docs)]

pub mod values;
