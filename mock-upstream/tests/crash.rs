//! The durability promise under the worst stop there is: a `mock-upstream` process serving
//! concurrent uploads is killed with SIGKILL and restarted on the same data folder. Every upload
//! it acknowledged must be there (lost = 0) and none may be stored twice.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

const HIERARCHY: &str = "l4+K5sWP281xaRXRloiykwSNsUtvHuHHgkZsLPuaLZA=";
const SITE: &str = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";

fn spawn(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            "admin",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mock-upstream starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("first line names the address")
        .to_string();
    (child, url)
}

fn body(n: u64) -> Vec<u8> {
    let payload = json!({
        "schema_version": 1, "hierarchy_id": HIERARCHY, "product_version": "5.00.8540.1000",
        "level": "basic", "mode": "online", "period": {"week": 1 + n % 50, "start": "2026-01-12"},
        "sites": [{"site": SITE, "type": "standalone", "version": "5.00.8540.1000", "status": "Active", "clients": n, "time_zone": "UTC"}],
        "results": []
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(payload.to_string().as_bytes()).unwrap();
    gz.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_upload() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn(dir.path());
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{url}/admin/hierarchies"))
        .bearer_auth("admin")
        .json(&json!({"hierarchy_id": HIERARCHY}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for worker in 0..16u64 {
        let (url, token, acknowledged, http) = (
            url.clone(),
            token.clone(),
            acknowledged.clone(),
            http.clone(),
        );
        writers.push(tokio::spawn(async move {
            for n in 0.. {
                let key = format!("w{worker}-{n}");
                let sent = http
                    .post(format!("{url}/v1/usage"))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &key)
                    .header("Content-Encoding", "gzip")
                    .body(body(worker * 1_000_000 + n))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => acknowledged.lock().unwrap().push(key),
                    Ok(r) => panic!("unexpected answer {} before the kill", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let uploads flow, then kill mid-stream.
    while acknowledged.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let (mut child, url) = spawn(dir.path());
    let receipts: Vec<Value> = http
        .get(format!("{url}/admin/uploads"))
        .bearer_auth("admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let stored: Vec<&str> = receipts
        .iter()
        .map(|r| r["idempotency_key"].as_str().unwrap())
        .collect();
    let unique: std::collections::BTreeSet<&str> = stored.iter().copied().collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !unique.contains(k.as_str()))
        .collect();
    eprintln!(
        "crash test: acknowledged {}, present after restart {}, lost {}, stored twice {}",
        acknowledged.len(),
        stored.len(),
        lost.len(),
        stored.len() - unique.len()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert_eq!(stored.len(), unique.len(), "an upload was stored twice");
    assert!(stored.len() >= acknowledged.len());
}
