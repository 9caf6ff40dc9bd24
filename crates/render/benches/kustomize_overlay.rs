//! One kustomize overlay rendered the way `driftless render --kustomize -o yaml` renders it
//! (native build + kustomize's YAML bytes), repeated, to compare with `kubectl kustomize` on
//! the same directory. Run: `cargo bench -p driftless-render --bench kustomize_overlay`.
//!
//! The overlay is the vendored krusty case `baseandoverlaymedium_test__TestMediumOverlay`
//! (a base and an overlay: prefixes, labels, annotations, patches, two generators).

use std::time::{Duration, Instant};

use driftless_render::local::LocalTree;
use driftless_render::{RenderLimits, RendererSpec, render};

const CASE: &str = "tests/kustomize-krusty/baseandoverlaymedium_test__TestMediumOverlay";
const RUNS: usize = 200;

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE);
    let tree = LocalTree::new(&root).expect("the vendored case exists");
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let out = render(
            &tree,
            "overlay",
            &RendererSpec::Kustomize,
            &RenderLimits::default(),
        )
        .expect("the overlay renders");
        let yaml = driftless_core::yaml::to_yaml_stream(out.set.values());
        bytes = yaml.len();
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[RUNS / 2];
    println!("kustomize_overlay: {CASE}/overlay, {bytes} bytes of YAML");
    println!(
        "  render + YAML, median of {RUNS}: {:.3} ms (min {:.3} ms)",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
