//! Operating Orchard: what a run will cost ([`cost`]) from a measured
//! throughput and a dated price table ([`prices`]), and what a run did, as a
//! self-contained HTML page ([`report`]) drawn from the engine's summary of
//! its output. Plans nothing and runs nothing: numbers and summaries in,
//! numbers, formulas and pages out.

pub mod cost;
mod count;
pub mod prices;
pub mod report;

pub use cost::{project, CostInputs, CostProjection, DEFAULT_EFFICIENCY};
pub use count::parse_count;
pub use prices::{PriceTable, DEFAULT_PRICES_NAME};

/// Errors of the operations tools, naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// A price table that cannot be used.
    #[error("price table {name}: {reason}")]
    Prices {
        /// Its file name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An instance type the table does not price.
    #[error("no prices for instance type {instance} in {region}; the table knows: {known} (add it to a copy of the table and pass --prices FILE)")]
    UnknownInstance {
        /// The type asked for.
        instance: String,
        /// The types the table knows.
        known: String,
        /// The table's region.
        region: String,
    },
    /// A price the projection needs is not in the table.
    #[error("the price table has no {what}")]
    MissingPrice {
        /// Which price.
        what: String,
    },
    /// A plot that could not be drawn.
    #[error("cannot draw the plot '{plot}': {reason}")]
    Plot {
        /// Its title.
        plot: String,
        /// Why.
        reason: String,
    },
    /// A bad input value.
    #[error("{0}")]
    Input(String),
}
