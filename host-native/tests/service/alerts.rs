//! The shipped Prometheus alerting rules (`ops/prometheus/torrent_service.rules.yml`) the
//! way operators run them: `promtool check rules` accepts them, `promtool check metrics`
//! accepts the service's real `/metrics` text, and `promtool test rules` makes the
//! under-seeded alert fire on the series that `/metrics` really exported (a bundle offloaded
//! from real block 413567 with no seeder yet) and stay silent once the value is zero.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::{Service, metric, metrics, temp, vectors, wait_for};

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool: tests/run_tests.sh installs Debian's prometheus");
    if let Some(text) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn shipped_alert_rules_check_and_fire_on_real_metrics() {
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/prometheus/torrent_service.rules.yml");
    let (ok, said) = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(ok, "{said}");
    assert!(said.contains("SUCCESS: 9 rules found"), "{said}");

    let dir = temp("alerts");
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(vectors().join("block-413567.bin"), src.join("413567.bin")).unwrap();
    let svc = Service::start_with(
        &dir,
        &format!(
            "block_source = \"dir:{}\"\nbundle_blocks = 1\naging_scan_interval_s = 1\naudit_interval_s = 1\nprune = false\nbittorrent = false\n",
            src.display()
        ),
    );
    let http = svc.ready["http"].as_str().unwrap().to_string();
    wait_for("the bundle counted under-seeded", 60, || {
        metric(&metrics(&http), "torrent_service_bundles_under_seeded")
            .expect("torrent_service_bundles_under_seeded in /metrics")
            >= 1.0
    });
    let text = metrics(&http);
    // The exposition format itself, as Prometheus' own linter reads it.
    let (ok, said) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {said}");
    let under = metric(&text, "torrent_service_bundles_under_seeded")
        .expect("torrent_service_bundles_under_seeded in /metrics");
    svc.stop();

    // The scraped value held for 40 minutes, then zero: the alert fires after its 30 m
    // `for` and clears.
    let test = dir.join("alerts_test.yml");
    std::fs::write(
        &test,
        format!(
            r#"rule_files:
  - {rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'torrent_service_bundles_under_seeded{{instance="svc"}}'
        values: '{under}x40 0x20'
    alert_rule_test:
      - eval_time: 20m
        alertname: TorrentServiceBundleUnderSeeded
        exp_alerts: []
      - eval_time: 35m
        alertname: TorrentServiceBundleUnderSeeded
        exp_alerts:
          - exp_labels:
              severity: warning
              instance: svc
            exp_annotations:
              summary: "{under} bundle(s) have fewer active seeders than min_seeders"
              description: "Blocks stay on disk until enough staked seeders hold them and pass audits. Check GET /v1/bundles for the seeders of each bundle."
      - eval_time: 55m
        alertname: TorrentServiceBundleUnderSeeded
        exp_alerts: []
"#,
            rules = rules.display()
        ),
    )
    .unwrap();
    let (ok, said) = promtool(&["test", "rules", test.to_str().unwrap()], None);
    assert!(ok, "promtool test rules: {said}");
    let _ = std::fs::remove_dir_all(&dir);
}
