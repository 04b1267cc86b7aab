//! JSON persistence of `PcaModel`.

mod common;

use common::{correlated_rows, rng};
use orchard_pca::{Components, PcaError, PcaModel, PcaStats, Standardize};

fn model(standardize: Option<Standardize>) -> (PcaModel, Vec<f32>) {
    let mut r = rng(10);
    let rows = correlated_rows(&mut r, 200, 6, 6, 0.3, 3.0);
    let stats = PcaStats::from_rows(6, &rows).unwrap();
    let m = PcaModel::fit(&stats, Components::VarianceFraction(0.9), standardize).unwrap();
    (m, rows)
}

/// Values agree to within a few ulps (serde_json's float parser may round the
/// last bit differently from the shortest representation it printed).
fn close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| (x - y).abs() <= 4.0 * f64::EPSILON * x.abs().max(y.abs()))
}

#[test]
fn json_round_trip_keeps_every_value() {
    for s in [None, Some(Standardize::default())] {
        let (m, rows) = model(s);
        let json = m.to_json().unwrap();
        let back = PcaModel::from_json(&json).unwrap();
        assert_eq!(
            (back.dim(), back.k(), back.n_samples()),
            (m.dim(), m.k(), m.n_samples())
        );
        assert_eq!(back.standardize(), m.standardize());
        assert!(close(back.mean(), m.mean()));
        assert!(close(back.components(), m.components()));
        assert!(close(back.explained_variance(), m.explained_variance()));
        assert!(close(
            back.explained_variance_ratio(),
            m.explained_variance_ratio()
        ));
        assert_eq!(back.scale().is_some(), m.scale().is_some());
        if let (Some(a), Some(b)) = (back.scale(), m.scale()) {
            assert!(close(a, b));
        }
        let (p1, p2) = (
            back.project_to_vec(&rows).unwrap(),
            m.project_to_vec(&rows).unwrap(),
        );
        assert!(p1
            .iter()
            .zip(&p2)
            .all(|(a, b)| (a - b).abs() <= 1e-5 * a.abs().max(1.0)));
        // serde impls work directly too.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["format_version"], 1);
        assert_eq!(v["components"].as_array().unwrap().len(), m.k());
        assert_eq!(v["requested_components"]["variance_fraction"], 0.9);
        let via_serde: PcaModel = serde_json::from_value(v).unwrap();
        assert!(close(via_serde.components(), m.components()));
    }
}

fn edit(json: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    f(&mut v);
    v.to_string()
}

#[test]
fn invalid_models_are_rejected() {
    let (m, _) = model(Some(Standardize::default()));
    let json = m.to_json().unwrap();
    let invalid = |j: String| {
        let e = PcaModel::from_json(&j).unwrap_err();
        assert!(
            matches!(e, PcaError::InvalidModel(_) | PcaError::Json(_)),
            "{e}"
        );
    };
    assert!(matches!(
        PcaModel::from_json(&edit(&json, |v| v["format_version"] = 2.into())),
        Err(PcaError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    ));
    invalid("not json".into());
    invalid("{}".into());
    invalid(edit(&json, |v| v["k"] = 1.into()));
    invalid(edit(&json, |v| v["dim"] = 7.into()));
    invalid(edit(&json, |v| {
        v["mean"]
            .as_array_mut()
            .unwrap()
            .pop()
            .map(drop)
            .unwrap_or(())
    }));
    invalid(edit(&json, |v| {
        v["components"][0].as_array_mut().unwrap().push(0.0.into())
    }));
    invalid(edit(&json, |v| v["components"][0][0] = 5.0.into()));
    invalid(edit(&json, |v| v["scale"] = serde_json::Value::Null));
    invalid(edit(&json, |v| v["standardize"] = serde_json::Value::Null));
    invalid(edit(&json, |v| v["mean"][0] = serde_json::Value::Null));
    invalid(edit(&json, |v| v["explained_variance"][0] = (-1.0).into()));
    invalid(edit(&json, |v| v["n_samples"] = 1.into()));
    invalid(edit(&json, |v| v["total_variance"] = 0.0.into()));
}
