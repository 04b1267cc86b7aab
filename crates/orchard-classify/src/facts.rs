//! Facts about each species of the shared data: names, family, origin,
//! season, a storage tip and nutrition per 100 g with its source, bundled
//! from `data/facts.json` (made by `scripts/facts/build_facts.py` from the
//! Indian Food Composition Tables 2017; a species the table lacks has no
//! nutrition, never a figure from elsewhere).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Nutrition per 100 g edible portion; a value the source lacks is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Nutrition {
    /// What the figures are per.
    pub per: String,
    /// The table and food the figures come from.
    pub source: String,
    /// Energy, kcal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub energy_kcal: Option<f64>,
    /// Water, g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub water_g: Option<f64>,
    /// Available carbohydrate, g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carbohydrate_g: Option<f64>,
    /// Free sugars, g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sugars_g: Option<f64>,
    /// Total dietary fibre, g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fibre_g: Option<f64>,
    /// Protein, g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protein_g: Option<f64>,
    /// Fat, g.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fat_g: Option<f64>,
    /// Vitamin C, mg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vitamin_c_mg: Option<f64>,
    /// Potassium, mg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub potassium_mg: Option<f64>,
}

/// What Orchard knows about a species.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Common English name.
    pub common_name: String,
    /// Botanical name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scientific_name: Option<String>,
    /// Botanical family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Where it comes from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Main season in the northern hemisphere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub season: Option<String>,
    /// How to keep it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Nutrition per 100 g, when a measured source has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nutrition: Option<Nutrition>,
}

#[derive(Deserialize)]
struct FactsFile {
    species: BTreeMap<String, Facts>,
}

/// The bundled facts file, as text.
pub const FACTS_JSON: &str = include_str!("../data/facts.json");

/// Every species with facts, by label.
pub fn all_facts() -> &'static BTreeMap<String, Facts> {
    static FACTS: OnceLock<BTreeMap<String, Facts>> = OnceLock::new();
    FACTS.get_or_init(|| {
        serde_json::from_str::<FactsFile>(FACTS_JSON)
            .expect("data/facts.json is checked by this crate's tests")
            .species
    })
}

/// The facts of `label` (case-insensitive), if any.
pub fn facts_for(label: &str) -> Option<&'static Facts> {
    let facts = all_facts();
    facts.get(label).or_else(|| {
        facts
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(label))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_species_of_the_shared_data_has_facts() {
        let facts = all_facts();
        assert!(facts.len() >= 46, "{}", facts.len());
        for label in [
            "apple",
            "passion fruit",
            "dragon fruit",
            "tomato",
            "prickly pear",
        ] {
            assert!(facts_for(label).is_some(), "{label}");
        }
        assert!(facts_for("Apple").is_some());
        assert!(facts_for("cabbage").is_none());
    }

    #[test]
    fn nutrition_always_names_its_source() {
        for (label, f) in all_facts() {
            if let Some(n) = &f.nutrition {
                assert!(n.source.contains("IFCT"), "{label}: {}", n.source);
                assert!(
                    n.energy_kcal.is_some_and(|e| e > 0.0 && e < 900.0),
                    "{label}"
                );
            }
        }
        let apple = facts_for("apple").unwrap().nutrition.as_ref().unwrap();
        assert!(apple.source.contains("E001"), "{}", apple.source);
    }
}
