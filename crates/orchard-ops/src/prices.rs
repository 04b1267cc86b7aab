//! The price table `orchard cost` reads: a dated TOML file per provider and
//! region (the default is `prices/aws-eu-west-3.toml`, built in).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::OpsError;

/// The built-in table: AWS eu-west-3 (Paris).
pub const DEFAULT_PRICES: &str = include_str!("../prices/aws-eu-west-3.toml");

/// Where the built-in table comes from (for the output).
pub const DEFAULT_PRICES_NAME: &str = "built-in prices/aws-eu-west-3.toml";

/// A price table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// When the prices were read (`YYYY-MM-DD`).
    pub date: String,
    /// Cloud provider (`aws`).
    pub provider: String,
    /// Region the prices hold in.
    pub region: String,
    /// Currency of every price.
    pub currency: String,
    /// Shortest billed instance time.
    pub billing_minimum_seconds: f64,
    /// Instance types by name.
    pub instances: BTreeMap<String, InstancePrice>,
    /// Object storage.
    pub s3: StoragePrice,
}

/// One instance type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstancePrice {
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// On-demand price per hour.
    pub on_demand_per_hour: f64,
    /// Spot price per hour (a typical low; spot prices move).
    pub spot_per_hour: Option<f64>,
    /// EMR's surcharge per instance-hour, on top of the EC2 price.
    pub emr_per_hour: Option<f64>,
}

/// Object storage prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoragePrice {
    /// Storage per GB-month by tier, in order.
    pub storage_tiers: Vec<StorageTier>,
    /// PUT, COPY, POST and LIST requests, per 1,000.
    pub put_per_1000: f64,
    /// GET requests, per 1,000.
    pub get_per_1000: f64,
}

/// One storage tier: its price holds up to `up_to_tb` TB stored in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageTier {
    /// Upper bound of the tier, TB of total storage (none: no bound).
    pub up_to_tb: Option<f64>,
    /// Price per GB-month.
    pub per_gb_month: f64,
}

impl PriceTable {
    /// Parses a table; `name` (a file name) is for the error.
    pub fn parse(text: &str, name: &str) -> Result<PriceTable, OpsError> {
        let table: PriceTable = toml::from_str(text).map_err(|e| OpsError::Prices {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
        table.check(name)?;
        Ok(table)
    }

    /// The built-in table.
    pub fn builtin() -> PriceTable {
        PriceTable::parse(DEFAULT_PRICES, DEFAULT_PRICES_NAME).expect("the built-in table parses")
    }

    /// The prices of `instance`, or an error listing the known ones.
    pub fn instance(&self, instance: &str) -> Result<&InstancePrice, OpsError> {
        self.instances
            .get(instance)
            .ok_or_else(|| OpsError::UnknownInstance {
                instance: instance.to_string(),
                known: self
                    .instances
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                region: self.region.clone(),
            })
    }

    fn check(&self, name: &str) -> Result<(), OpsError> {
        let bad = |reason: String| OpsError::Prices {
            name: name.to_string(),
            reason,
        };
        let tiers = &self.s3.storage_tiers;
        if tiers.is_empty() || tiers.last().is_some_and(|t| t.up_to_tb.is_some()) {
            return Err(bad(
                "s3.storage_tiers must end with a tier without up_to_tb".into(),
            ));
        }
        let bounds: Vec<f64> = tiers.iter().filter_map(|t| t.up_to_tb).collect();
        if bounds.windows(2).any(|w| w[0] >= w[1]) || bounds.iter().any(|b| *b <= 0.0) {
            return Err(bad(
                "s3.storage_tiers' up_to_tb must be positive and increasing".into(),
            ));
        }
        if self.instances.is_empty() {
            return Err(bad("no [instances.NAME] table".into()));
        }
        Ok(())
    }
}

/// Monthly price of storing `gb` GB: each tier's price for the part of the
/// total that falls in it (1 TB = 1024 GB).
pub fn tiered_storage_per_month(tiers: &[StorageTier], gb: f64) -> f64 {
    let mut usd = 0.0;
    let mut lower_gb = 0.0;
    for tier in tiers {
        let upper_gb = tier.up_to_tb.map_or(f64::INFINITY, |tb| tb * 1024.0);
        if gb > lower_gb {
            usd += (gb.min(upper_gb) - lower_gb) * tier.per_gb_month;
        }
        lower_gb = upper_gb;
    }
    usd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_holds_the_seed_prices() {
        let table = PriceTable::builtin();
        assert_eq!(table.region, "eu-west-3");
        let m5 = table.instance("m5.xlarge").unwrap();
        assert_eq!((m5.vcpus, m5.on_demand_per_hour), (4, 0.204));
        assert_eq!(m5.spot_per_hour, Some(0.054));
        let prices: Vec<f64> = table
            .s3
            .storage_tiers
            .iter()
            .map(|t| t.per_gb_month)
            .collect();
        assert_eq!(prices, [0.024, 0.023, 0.022]);
        let err = table.instance("x9.huge").unwrap_err().to_string();
        assert!(err.contains("m5.xlarge"), "{err}");
    }

    #[test]
    fn storage_is_priced_tier_by_tier() {
        let tiers = PriceTable::builtin().s3.storage_tiers;
        assert_eq!(tiered_storage_per_month(&tiers, 0.0), 0.0);
        assert!((tiered_storage_per_month(&tiers, 100.0) - 2.4).abs() < 1e-9);
        // 60 TB: 50 TB at 0.024, 10 TB at 0.023.
        let tb = 1024.0;
        let expected = 50.0 * tb * 0.024 + 10.0 * tb * 0.023;
        assert!((tiered_storage_per_month(&tiers, 60.0 * tb) - expected).abs() < 1e-6);
        // 600 TB: all three tiers.
        let expected = 50.0 * tb * 0.024 + 450.0 * tb * 0.023 + 100.0 * tb * 0.022;
        assert!((tiered_storage_per_month(&tiers, 600.0 * tb) - expected).abs() < 1e-6);
    }

    #[test]
    fn broken_tables_are_refused_with_the_file_named() {
        let text = DEFAULT_PRICES.replace("  { per_gb_month = 0.022 },\n", "");
        let err = PriceTable::parse(&text, "my-prices.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("my-prices.toml") && err.contains("without up_to_tb"),
            "{err}"
        );
        let err = PriceTable::parse("date = 1", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("price table x.toml:"), "{err}");
    }
}
