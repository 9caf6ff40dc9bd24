//! DORA figures from the deployment record: deployment frequency, lead time for changes
//! (commit time → deployed and healthy; a sync succeeds only once its waves are healthy),
//! change failure rate and mean time to restore. Pure: the caller reads the deployments.
//!
//! A pipeline's production stage deploys promotion commits, made moments before it syncs;
//! its lead time runs from the commit that introduced the change (CI's image-set commit, a
//! source commit) instead: [`trace_origins`] follows each promotion commit back to the
//! revision its source stage ran, stage by stage, to a commit no promotion made.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use driftless_store::Deployment;

/// The four figures over a window, for one application or a pipeline's production stage.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dora {
    pub window_days: f64,
    pub deployments: usize,
    pub failed_deployments: usize,
    /// Successful deployments per day.
    pub deployment_frequency_per_day: f64,
    /// Median seconds from commit to a successful deployment (None: no commit times).
    pub lead_time_seconds: Option<f64>,
    /// Failed / all deployments (None: no deployment).
    pub change_failure_rate: Option<f64>,
    /// Mean seconds from a failed deployment to the next successful one of the same
    /// application (None: no failure was restored).
    pub mean_time_to_restore_seconds: Option<f64>,
    /// Failures not followed by a successful deployment yet.
    pub unrestored_failures: usize,
}

/// Sets each deployment's `commit_ms` to the time of the commit that introduced its change:
/// `promoted_from` maps a promotion's commit to the revision its source stage ran;
/// `commit_times` holds the commit time of revisions (from the other stages' deployments).
/// A revision no promotion made keeps its own commit time.
pub fn trace_origins(
    deployments: &mut [Deployment],
    promoted_from: &BTreeMap<String, String>,
    commit_times: &BTreeMap<String, i64>,
) {
    for d in deployments.iter_mut() {
        let mut rev = d.revision.as_str();
        let mut seen = BTreeSet::new();
        while let Some(src) = promoted_from.get(rev) {
            if !seen.insert(rev) {
                break; // a loop in the record: stop where it closes
            }
            rev = src;
        }
        if let Some(t) = commit_times.get(rev).filter(|_| rev != d.revision) {
            d.commit_ms = Some(*t);
        }
    }
}

/// The figures of `deployments` (any order, any applications) over `window_days`.
pub fn dora(deployments: &[Deployment], window_days: f64) -> Dora {
    let mut ds: Vec<&Deployment> = deployments.iter().collect();
    ds.sort_by_key(|d| d.deployed_ms);
    let ok: Vec<&&Deployment> = ds.iter().filter(|d| d.succeeded).collect();
    let failed = ds.len() - ok.len();
    let mut leads: Vec<f64> = ok
        .iter()
        .filter_map(|d| {
            d.commit_ms
                .map(|c| (d.deployed_ms - c).max(0) as f64 / 1000.0)
        })
        .collect();
    leads.sort_by(f64::total_cmp);
    let lead = (!leads.is_empty()).then(|| {
        let n = leads.len();
        if n % 2 == 1 {
            leads[n / 2]
        } else {
            (leads[n / 2 - 1] + leads[n / 2]) / 2.0
        }
    });
    let mut restores = Vec::new();
    let mut unrestored = 0;
    for (i, f) in ds.iter().enumerate().filter(|(_, d)| !d.succeeded) {
        match ds[i + 1..].iter().find(|d| d.succeeded && d.app == f.app) {
            Some(next) => restores.push((next.deployed_ms - f.deployed_ms) as f64 / 1000.0),
            None => unrestored += 1,
        }
    }
    Dora {
        window_days,
        deployments: ds.len(),
        failed_deployments: failed,
        deployment_frequency_per_day: if window_days > 0.0 {
            ok.len() as f64 / window_days
        } else {
            0.0
        },
        lead_time_seconds: lead,
        change_failure_rate: (!ds.is_empty()).then(|| failed as f64 / ds.len() as f64),
        mean_time_to_restore_seconds: (!restores.is_empty())
            .then(|| restores.iter().sum::<f64>() / restores.len() as f64),
        unrestored_failures: unrestored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(app: &str, commit: Option<i64>, at: i64, ok: bool) -> Deployment {
        Deployment {
            app: app.into(),
            revision: format!("r{at}"),
            commit_ms: commit,
            deployed_ms: at,
            succeeded: ok,
            kind: "new-revision".into(),
        }
    }

    #[test]
    fn the_four_figures_follow_the_record() {
        let ds = vec![
            d("prod", Some(0), 60_000, true),         // lead 60 s
            d("prod", Some(100_000), 400_000, false), // fails...
            d("prod", Some(500_000), 520_000, true),  // ...restored 120 s later, lead 20 s
            d("prod", Some(600_000), 700_000, true),  // lead 100 s
            d("other", None, 800_000, false),         // not restored
        ];
        let f = dora(&ds, 2.0);
        assert_eq!((f.deployments, f.failed_deployments), (5, 2));
        assert_eq!(f.deployment_frequency_per_day, 1.5);
        assert_eq!(f.lead_time_seconds, Some(60.0), "median of 20, 60, 100");
        assert_eq!(f.change_failure_rate, Some(0.4));
        assert_eq!(f.mean_time_to_restore_seconds, Some(120.0));
        assert_eq!(f.unrestored_failures, 1);
    }

    #[test]
    fn lead_time_runs_from_the_commit_that_introduced_the_change() {
        // The demo: CI's image commit at t=0 s deploys to dev; staging's promotion commit
        // c-stg at 5 s; prod waits 25 s for an approval, its promotion commit c-prod lands
        // at 30 s and prod is deployed at 31 s. Lead time: 31 s, not 1 s.
        let mut prod = vec![
            Deployment {
                revision: "c-prod".into(),
                ..d("prod", Some(30_000), 31_000, true)
            },
            // A second change: image at 100 s, straight through at 160 s (c-prod2 at 158 s).
            Deployment {
                revision: "c-prod2".into(),
                ..d("prod", Some(158_000), 160_000, true)
            },
            // A revision no promotion made (a direct commit) keeps its own time.
            Deployment {
                revision: "hotfix".into(),
                ..d("prod", Some(200_000), 203_000, true)
            },
        ];
        let promoted_from = BTreeMap::from([
            ("c-prod".to_string(), "c-stg".to_string()),
            ("c-stg".to_string(), "image-1".to_string()),
            ("c-prod2".to_string(), "c-stg2".to_string()),
            ("c-stg2".to_string(), "image-2".to_string()),
        ]);
        let times = BTreeMap::from([
            ("image-1".to_string(), 0),
            ("c-stg".to_string(), 5_000),
            ("image-2".to_string(), 100_000),
        ]);
        assert_eq!(
            dora(&prod, 1.0).lead_time_seconds,
            Some(2.0),
            "before: the promotion commits"
        );
        trace_origins(&mut prod, &promoted_from, &times);
        let leads: Vec<Option<i64>> = prod.iter().map(|d| d.commit_ms).collect();
        assert_eq!(leads, [Some(0), Some(100_000), Some(200_000)]);
        assert_eq!(
            dora(&prod, 1.0).lead_time_seconds,
            Some(31.0),
            "median of 31, 60, 3"
        );
    }

    #[test]
    fn a_loop_in_the_promotion_record_ends() {
        let mut ds = vec![Deployment {
            revision: "a".into(),
            ..d("prod", Some(9), 10, true)
        }];
        let promoted_from = BTreeMap::from([
            ("a".to_string(), "b".to_string()),
            ("b".to_string(), "a".to_string()),
        ]);
        trace_origins(&mut ds, &promoted_from, &BTreeMap::new());
        assert_eq!(ds[0].commit_ms, Some(9));
    }

    #[test]
    fn no_deployments_give_no_rates() {
        let f = dora(&[], 30.0);
        assert_eq!(
            (f.deployment_frequency_per_day, f.change_failure_rate),
            (0.0, None)
        );
        assert_eq!(
            (f.lead_time_seconds, f.mean_time_to_restore_seconds),
            (None, None)
        );
    }
}
