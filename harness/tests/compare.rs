//! `run --repeat` and `harness compare`: a probe made slower is caught, the noise is not, and
//! the virtual-machine steps are the same run after run.

mod common;

use std::path::Path;

use harness::pipeline::run_scenario;
use harness::report::RunReport;
use serde_json::Value;

async fn report(out: &Path, repeat: u32) -> Value {
    let mut options = common::options(out);
    options.repeat = repeat;
    let scenario = common::shipped("smoke.toml");
    let report = run_scenario(&scenario, &options).await.unwrap();
    serde_json::to_value(RunReport::new(vec![report])).unwrap()
}

fn write(dir: &Path, name: &str, report: &Value) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(report).unwrap()).unwrap();
    path
}

fn compare(base: &Path, new: &Path, metric: &str) -> (i32, String) {
    let out = common::harness_command()
        .arg("compare")
        .arg(base)
        .arg(new)
        .args(["--metric", metric])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The timing of `probe` in a report.
fn probe<'a>(report: &'a mut Value, name: &str) -> &'a mut Value {
    report["scenarios"][0]["timings"]["probes"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["probe"] == name)
        .unwrap()
}

/// Sets a probe run's samples and, as a run does, its `ms` to their median.
fn set_samples(p: &mut Value, samples: &[f64]) {
    p["samples_ms"] = serde_json::json!(samples);
    p["ms"] = Value::from(harness::report::median(&mut samples.to_vec()));
}

#[tokio::test]
async fn a_slower_probe_is_caught_and_noise_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut base = report(&dir.path().join("a"), 3).await;
    let again = report(&dir.path().join("b"), 3).await;

    // Repeats are recorded; steps are the same from one run to the next.
    let timings = base["scenarios"][0]["timings"]["probes"]
        .as_array()
        .unwrap();
    assert!(
        timings
            .iter()
            .all(|p| p["samples_ms"].as_array().unwrap().len() == 3)
    );
    let steps = |r: &Value| -> Vec<Value> {
        r["scenarios"][0]["timings"]["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["vm_steps"].clone())
            .collect()
    };
    assert!(
        steps(&base)
            .iter()
            .all(|s| s.as_u64().is_some_and(|s| s > 0))
    );
    assert_eq!(steps(&base), steps(&again));

    let base_file = write(dir.path(), "base.json", &base);
    let (code, text) = compare(&base_file, &base_file, "steps");
    assert_eq!(code, 0, "{text}");

    // Noise: a median 25 % higher but within twice the spread of the samples is not a
    // regression; the same median with tight samples, far past the spread, is.
    set_samples(probe(&mut base, "TEL_ClientVersions"), &[1.0, 2.0, 3.0]);
    let base_file = write(dir.path(), "base.json", &base);
    let mut noisy = base.clone();
    set_samples(probe(&mut noisy, "TEL_ClientVersions"), &[2.4, 2.5, 2.6]);
    let (code, text) = compare(&base_file, &write(dir.path(), "noisy.json", &noisy), "time");
    assert_eq!(code, 0, "{text}");
    let mut slower = base.clone();
    set_samples(probe(&mut slower, "TEL_ClientVersions"), &[6.9, 7.0, 7.1]);
    let (code, text) = compare(
        &base_file,
        &write(dir.path(), "slower.json", &slower),
        "time",
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("SLOWER  smoke/P01/week 1/TEL_ClientVersions"),
        "{text}"
    );
    assert!(text.contains("1 slower"), "{text}");

    // One outlier among the new samples does not hide a probe three times slower.
    let mut outlier = base.clone();
    set_samples(
        probe(&mut outlier, "TEL_ClientVersions"),
        &[6.0, 6.1, 5.9, 6.0, 120.0],
    );
    let (code, text) = compare(
        &base_file,
        &write(dir.path(), "outlier.json", &outlier),
        "time",
    );
    assert_eq!(code, 1, "{text}");

    // A probe that failed in the new run is a regression, not an improvement.
    let mut failed = base.clone();
    let p = probe(&mut failed, "TEL_SiteList");
    p["failed"] = Value::Bool(true);
    set_samples(p, &[0.001]);
    let (code, text) = compare(
        &base_file,
        &write(dir.path(), "failed.json", &failed),
        "steps",
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("FAILED  smoke/P01/week 1/TEL_SiteList"),
        "{text}"
    );

    // A value no measurement can have is refused.
    let mut negative = base.clone();
    set_samples(probe(&mut negative, "TEL_SiteList"), &[-0.5]);
    let (code, text) = compare(
        &base_file,
        &write(dir.path(), "negative.json", &negative),
        "time",
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("which no measurement can be"), "{text}");

    // A query that takes twice the steps is caught without any noise to allow for.
    let mut more_steps = base.clone();
    let p = probe(&mut more_steps, "TEL_OSVersions");
    p["vm_steps"] = Value::from(p["vm_steps"].as_u64().unwrap() * 2);
    let (code, text) = compare(
        &base_file,
        &write(dir.path(), "steps.json", &more_steps),
        "steps",
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("TEL_OSVersions") && text.contains("+100.0 %"),
        "{text}"
    );

    // The change per probe, as a page with its chart.
    let html = dir.path().join("change.html");
    let out = common::harness_command()
        .arg("compare")
        .arg(&base_file)
        .arg(dir.path().join("slower.json"))
        .arg("--html")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("TEL_ClientVersions"));

    // A report edited so that its figures disagree, or that names a probe run twice, is
    // refused, whatever the metric compared.
    let mut edited = base.clone();
    probe(&mut edited, "TEL_ClientVersions")["ms"] = Value::from(200.0);
    let mut negative_cpu = base.clone();
    probe(&mut negative_cpu, "TEL_SiteList")["cpu_ms"] = Value::from(-1.0);
    let mut twice = base.clone();
    let copy = probe(&mut twice, "TEL_SiteList").clone();
    twice["scenarios"][0]["timings"]["probes"]
        .as_array_mut()
        .unwrap()
        .push(copy);
    for (name, report, said) in [
        ("edited.json", &edited, "the median of its samples"),
        (
            "negative-cpu.json",
            &negative_cpu,
            "which no measurement can be",
        ),
        ("twice.json", &twice, "in the report twice"),
    ] {
        let (code, text) = compare(&base_file, &write(dir.path(), name, report), "steps");
        assert_eq!(code, 2, "{name}: {text}");
        assert!(text.contains(said), "{name}: {text}");
    }

    // A scenario that did not run in the new report is a regression, not a pass.
    let mut not_run = base.clone();
    not_run["scenarios"][0]["timings"]["probes"] = serde_json::json!([]);
    not_run["scenarios"][0]["error"] = Value::from("the engine could not be reached");
    let (code, text) = compare(
        &base_file,
        &write(dir.path(), "not-run.json", &not_run),
        "time",
    );
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("MISSING smoke/P01/week 1/TEL_SiteList"),
        "{text}"
    );

    // Under a millisecond a single-sample time is the timer's noise: not judged.
    let mut tiny = base.clone();
    let mut tiny_new = base.clone();
    set_samples(probe(&mut tiny, "TEL_SiteList"), &[0.029]);
    set_samples(probe(&mut tiny_new, "TEL_SiteList"), &[0.058]);
    let (code, text) = compare(
        &write(dir.path(), "tiny.json", &tiny),
        &write(dir.path(), "tiny-new.json", &tiny_new),
        "time",
    );
    assert_eq!(code, 0, "{text}");

    // The page never replaces what is not a report file, nor one of the reports compared.
    for target in [Path::new("/dev/null"), base_file.as_path()] {
        let out = common::harness_command()
            .arg("compare")
            .arg(&base_file)
            .arg(dir.path().join("slower.json"))
            .arg("--html")
            .arg(target)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", target.display());
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        std::fs::read_to_string(&base_file)
            .unwrap()
            .starts_with('{')
    );

    // Another seed is said (like is compared with like), and a name's control characters
    // never reach the terminal.
    let mut other_seed = base.clone();
    other_seed["scenarios"][0]["seed"] = Value::from(7);
    probe(&mut other_seed, "TEL_SiteList")["probe"] = Value::from("TEL_\u{1b}[31mSiteList");
    let (_, text) = compare(
        &base_file,
        &write(dir.path(), "other-seed.json", &other_seed),
        "steps",
    );
    assert!(
        text.contains("not like with like: smoke: engine embedded seed 42"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "{text}");

    // A device is not read at all (it would never end).
    let (code, text) = compare(&base_file, Path::new("/dev/zero"), "time");
    assert_eq!(code, 2, "{text}");

    // Not a report: exit 2.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"x\": 1}").unwrap();
    let (code, text) = compare(&base_file, &junk, "time");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("is not a harness report.json"), "{text}");
}
