//! Fetch benchmark: a 10,000-commit repository served by `git http-backend` on loopback,
//! mirrored with gix (Driftless) and with the `git` CLI in the same run, same server.
//! Reports full clone and incremental fetch (100 new commits) times and the gix/git ratio.
//! Run: `cargo bench -p driftless-git --bench fetch`.

use std::process::Command;
use std::time::{Duration, Instant};

use driftless_git::{Credentials, FetchOptions, Mirror, UrlPolicy};
use driftless_testkit::http::{Auth, GitHttpServer};
use driftless_testkit::repo::TestRepo;

const COMMITS: usize = 10_000;
const RUNS: usize = 3;

fn git(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let repo = TestRepo::new("big");
    repo.bulk_commits(COMMITS);
    let srv = GitHttpServer::start(repo.root(), Auth::None);
    let url = srv.url("big.git");
    let policy = UrlPolicy {
        allow_local: true,
        allow_insecure: false,
    };

    let (mut gix_clone, mut git_clone, mut gix_inc, mut git_inc) = (vec![], vec![], vec![], vec![]);
    for run in 0..RUNS {
        let gix_dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let mirror = Mirror::open(gix_dir.path(), &url, policy).unwrap();
        mirror
            .fetch(&Credentials::None, &FetchOptions::default())
            .unwrap();
        gix_clone.push(t.elapsed());

        let git_dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        git(&["clone", "-q", "--mirror", &url, "m.git"], git_dir.path());
        git_clone.push(t.elapsed());

        // 100 new commits on the server, then an incremental fetch by each.
        let mut parent = repo.git_bare(&["rev-parse", "main"]);
        for i in 0..100 {
            parent = repo.git_bare(&[
                "commit-tree",
                "-m",
                &format!("inc {run}-{i}"),
                "-p",
                &parent,
                "main^{tree}",
            ]);
        }
        repo.git_bare(&["update-ref", "refs/heads/main", &parent]);

        let t = Instant::now();
        mirror
            .fetch(&Credentials::None, &FetchOptions::default())
            .unwrap();
        gix_inc.push(t.elapsed());
        assert_eq!(mirror.resolve("main").unwrap(), parent);

        let t = Instant::now();
        git(&["fetch", "-q", "origin"], &git_dir.path().join("m.git"));
        git_inc.push(t.elapsed());
    }
    let (gc, kc, gi, ki) = (
        median(gix_clone),
        median(git_clone),
        median(gix_inc),
        median(git_inc),
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("fetch: {COMMITS}-commit repository over loopback smart HTTP, median of {RUNS}");
    println!(
        "  clone        gix {:>8.1} ms   git {:>8.1} ms   ratio {:.2} (target <= 1.0)",
        ms(gc),
        ms(kc),
        ms(gc) / ms(kc)
    );
    println!(
        "  incremental  gix {:>8.1} ms   git {:>8.1} ms   ratio {:.2} (target <= 1.0)",
        ms(gi),
        ms(ki),
        ms(gi) / ms(ki)
    );
}
