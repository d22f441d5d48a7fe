//! The service connection tool against a hostile service and a hostile transfer folder: each test
//! is named after the defect an attack found. Nothing the other side says may choose a path, and
//! the token goes only to the configured service.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::{any, post};
use harness::engine::{SiteDatabase, WeeklyRun};
use harness::probes;
use harness::probes::Catalog;
use harness::scenario::Level;
use harness::sct::{self, Credentials, SctError};
use usage_protocol::connect::{ConnectAnswer, ConnectResult};
use usage_protocol::receipt::Receipt;
use usage_protocol::update_pack::PackOffer;

/// A seeded site (CAS and one child when `cas`) with one weekly run everywhere.
async fn sites(dir: &Path, cas: bool) -> Vec<Arc<dyn SiteDatabase>> {
    let text = format!(
        "name = \"t\"\nseed = 9\n[hierarchy]\ncas = {cas}\nscp_mode = \"offline\"\ninstalled = \"2026-01-05\"\n[[hierarchy.primary]]\ncode = \"P01\"\nclients = 80\n"
    );
    let (hierarchy, _engine, sites) = common::seed_all(&common::scenario(&text), dir).await;
    let catalog = probes::for_level(Level::Enhanced);
    for site in &sites {
        site.db
            .run_weekly(&WeeklyRun {
                week: 1,
                started_on: hierarchy.week_start(1),
                probes: &catalog,
            })
            .await
            .unwrap();
    }
    sites.into_iter().map(|s| s.db).collect()
}

/// Serves `answer` to every -connect and counts every other request; returns its base URL.
async fn hostile_service(answer: serde_json::Value, other_requests: Arc<AtomicUsize>) -> String {
    let app = Router::new()
        .route(
            "/v1/sct/connect",
            post(move || async move { axum::Json(answer) }),
        )
        .fallback(any(move || async move {
            other_requests.fetch_add(1, Ordering::SeqCst);
            "pack bytes"
        }));
    serve(app).await
}

/// Counts the requests that reach it (a port the token must never go to).
async fn bystander(requests: Arc<AtomicUsize>) -> SocketAddr {
    let app = Router::new().fallback(any(move || async move {
        requests.fetch_add(1, Ordering::SeqCst);
        "stolen"
    }));
    serve(app)
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A -connect answer for `hierarchy_id` offering `packs`.
fn answer(hierarchy_id: &str, packs: Vec<PackOffer>) -> serde_json::Value {
    serde_json::to_value(ConnectAnswer {
        results: vec![ConnectResult {
            file: "UsageData.cab".into(),
            hierarchy_id: hierarchy_id.into(),
            week: 1,
            receipt: Receipt {
                id: "r1".into(),
                idempotency_key: format!("sct/{hierarchy_id}/week/1"),
                hierarchy_id: hierarchy_id.into(),
                week: 1,
                channel: "sct".into(),
                body_sha256: "00".repeat(32),
                bytes: 1,
                received_at: "0.0".into(),
            },
            replayed: false,
            update_packs: packs,
        }],
    })
    .unwrap()
}

fn offer(id: &str, download: &str) -> PackOffer {
    PackOffer {
        id: id.into(),
        name: "pack".into(),
        version: "5.00.9128.1000".into(),
        size: 10,
        sha256: usage_protocol::sha256_hex(b"pack bytes"),
        download: download.into(),
    }
}

/// A transfer folder with a prepared cabinet, under `root/transfer`; returns the cabinet's
/// hierarchy hash.
async fn prepared(root: &Path) -> String {
    let db = sites(&root.join("sites"), false).await.remove(0);
    std::fs::create_dir_all(root.join("transfer")).unwrap();
    sct::prepare(
        db.as_ref(),
        Catalog::shipped(),
        None,
        &root.join("transfer/UsageData.cab"),
    )
    .await
    .unwrap()
    .hierarchy_hash
}

/// `-connect` of the cabinet `prepared` left in `root/transfer`, with a hierarchy token, to
/// `url`, its packs to `dest`.
async fn connect_from_transfer(
    url: &str,
    root: &Path,
    dest: &Path,
) -> Result<Vec<sct::Uploaded>, SctError> {
    sct::connect(
        url,
        &Credentials::Token("secret-token".into()),
        &root.join("transfer"),
        dest,
    )
    .await
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn sct_connect_trusts_the_server() {
    let root = tempfile::tempdir().unwrap();
    let hash = prepared(root.path()).await;
    let stolen = Arc::new(AtomicUsize::new(0));
    let elsewhere = bystander(stolen.clone()).await;
    let cases = [
        ("hierarchy id `..`", answer("..", vec![])),
        (
            "a hierarchy not sent",
            answer(&harness::hash::tel_hash("another hierarchy"), vec![]),
        ),
        (
            "pack id as a path",
            answer(&hash, vec![offer("../../evil", "/v1/updatepacks/x")]),
        ),
        (
            "download on another port",
            answer(
                &hash,
                vec![offer("cm-1", &format!(":{}/x", elsewhere.port()))],
            ),
        ),
        (
            "download on another host",
            answer(&hash, vec![offer("cm-1", &format!("//{elsewhere}/x"))]),
        ),
        (
            "download as an absolute URL",
            answer(&hash, vec![offer("cm-1", &format!("http://{elsewhere}/x"))]),
        ),
        (
            "download with an @",
            answer(&hash, vec![offer("cm-1", &format!("@{elsewhere}/x"))]),
        ),
    ];
    for (what, hostile) in cases {
        let dest = root.path().join("packs");
        let url = hostile_service(hostile, Arc::new(AtomicUsize::new(0))).await;
        let err = connect_from_transfer(&url, root.path(), &dest)
            .await
            .expect_err(what);
        assert!(
            matches!(err, SctError::HostileAnswer(_) | SctError::Upstream(_)),
            "{what}: {err}"
        );
        assert!(
            !root.path().join("manifest.json").exists() && !root.path().join("evil.pack").exists(),
            "{what}: a file landed outside --updatepackdest"
        );
        if dest.exists() {
            for file in files_under(&dest) {
                assert!(file.starts_with(&dest), "{what}: {}", file.display());
            }
        }
        assert_eq!(
            stolen.load(Ordering::SeqCst),
            0,
            "{what}: the token went elsewhere"
        );
    }
    // Packs of the right form still download from the service itself.
    let served = Arc::new(AtomicUsize::new(0));
    let url = hostile_service(
        answer(&hash, vec![offer("cm-2403", "/v1/updatepacks/cm-2403")]),
        served.clone(),
    )
    .await;
    let dest = root.path().join("good");
    connect_from_transfer(&url, root.path(), &dest)
        .await
        .unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert!(
        dest.join(sct::hierarchy_folder(&hash))
            .join("cm-2403.pack")
            .is_file()
    );
}

/// Found by a later attack: a service offering 20,000 valid packs was downloaded from for as
/// long as it kept answering (3,336 files in 150 s, no manifest), and what an answer said of its
/// packs and results was taken on trust. Now the whole answer is checked before a byte is
/// downloaded or a file written.
#[tokio::test]
async fn sct_connect_downloads_without_end() {
    let root = tempfile::tempdir().unwrap();
    let hash = prepared(root.path()).await;
    let many: Vec<PackOffer> = (0..20_000)
        .map(|i| offer(&format!("p{i}"), "/v1/updatepacks/x"))
        .collect();
    let mut misannounced = offer("cm-1", "/v1/updatepacks/x");
    misannounced.size = 100;
    let mut twice = answer(&hash, vec![]);
    let first = twice["results"][0].clone();
    twice["results"].as_array_mut().unwrap().push(first);
    let mut unsent = answer(&hash, vec![]);
    unsent["results"][0]["file"] = "../../evil.cab".into();
    let nothing = serde_json::json!({"results": []});
    let cases = [
        ("20,000 packs", answer(&hash, many), "more than the 64"),
        (
            "a size that is not the pack's",
            answer(&hash, vec![misannounced]),
            "announced at 100",
        ),
        ("two results for one hierarchy", twice, "two results"),
        ("a result for a cabinet not sent", unsent, "not sent"),
        (
            "no result for the cabinet sent",
            nothing,
            "no result for the cabinet",
        ),
        (
            "ids told apart only by case",
            answer(
                &hash,
                vec![
                    offer("CM-1", "/v1/updatepacks/x"),
                    offer("cm-1", "/v1/updatepacks/y"),
                ],
            ),
            "offered twice",
        ),
    ];
    for (what, hostile, says) in cases {
        let dest = root.path().join(format!("packs-{}", what.len()));
        let downloads = Arc::new(AtomicUsize::new(0));
        let url = hostile_service(hostile, downloads.clone()).await;
        let err = connect_from_transfer(&url, root.path(), &dest)
            .await
            .expect_err(what);
        assert!(matches!(err, SctError::HostileAnswer(_)), "{what}: {err}");
        assert!(err.to_string().contains(says), "{what}: {err}");
        if what != "a size that is not the pack's" {
            assert_eq!(downloads.load(Ordering::SeqCst), 0, "{what}: downloaded");
            assert!(
                !dest.exists() || files_under(&dest).is_empty(),
                "{what}: files written"
            );
        }
    }
}

/// Found by a second attack: an error answer whose body never ends was read whole (3 GB in
/// 4 s, then the allocation failed and the process aborted). An error body is read up to 64 KiB.
#[tokio::test]
async fn an_endless_error_answer_is_read_without_bound() {
    let root = tempfile::tempdir().unwrap();
    prepared(root.path()).await;
    let endless = || {
        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        axum::body::Body::from_stream(futures_util::stream::repeat_with(move || {
            Ok::<_, std::convert::Infallible>(chunk.clone())
        }))
    };
    let app = Router::new().route(
        "/v1/sct/connect",
        post(move || async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, endless()) }),
    );
    let url = serve(app).await;
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        connect_from_transfer(&url, root.path(), &root.path().join("packs")),
    )
    .await
    .expect("answered, not read for ever")
    .expect_err("a 500");
    let message = err.to_string();
    assert!(
        message.contains("500"),
        "{}",
        &message[..200.min(message.len())]
    );
    assert!(
        message.len() < 80 * 1024,
        "{} bytes of error",
        message.len()
    );
}

/// `-import` of `src` is refused, saying `says`.
async fn import_refused(db: &dyn SiteDatabase, src: &Path, what: &str, says: &str) {
    let err = sct::import(db, src).await.expect_err(what);
    assert!(err.to_string().contains(says), "{what}: {err}");
}

/// Writes a transfer folder for `db`'s hierarchy whose manifest names `file`.
async fn manifest_naming(db: &dyn SiteDatabase, src: &Path, file: &str, sha: &str) {
    let own = harness::hash::tel_hash(&db.site_info().await.unwrap().hierarchy_id);
    let folder = src.join(sct::hierarchy_folder(&own));
    std::fs::create_dir_all(&folder).unwrap();
    let manifest = serde_json::json!({
        "hierarchy_id": own,
        "packs": [{"id": "cm-1", "name": "n", "version": "5.00.9128.1000", "sha256": sha, "file": file}],
    });
    std::fs::write(folder.join(sct::MANIFEST), manifest.to_string()).unwrap();
}

#[tokio::test]
async fn sct_import_follows_the_manifest_anywhere() {
    let root = tempfile::tempdir().unwrap();
    let db = sites(&root.path().join("sites"), false).await.remove(0);
    let outside = root.path().join("secret.txt");
    std::fs::write(&outside, b"not a pack").unwrap();
    let sha = usage_protocol::sha256_hex(b"not a pack");
    for (what, file) in [
        ("a path up", "../../secret.txt".to_string()),
        ("an absolute path", outside.display().to_string()),
        ("a device", "/dev/zero".to_string()),
    ] {
        let src = root.path().join(format!("src-{}", what.replace(' ', "-")));
        manifest_naming(db.as_ref(), &src, &file, &sha).await;
        import_refused(db.as_ref(), &src, what, "not a plain file name").await;
    }
    // A link inside the folder to a file outside it is not a regular file.
    let src = root.path().join("src-link");
    manifest_naming(db.as_ref(), &src, "cm-1.pack", &sha).await;
    let own = harness::hash::tel_hash(&db.site_info().await.unwrap().hierarchy_id);
    std::os::unix::fs::symlink(
        &outside,
        src.join(sct::hierarchy_folder(&own)).join("cm-1.pack"),
    )
    .unwrap();
    import_refused(db.as_ref(), &src, "a link", "not a regular file").await;
    // A pipe reads forever: it is not a regular file either, and is never opened for reading.
    let src = root.path().join("src-fifo");
    manifest_naming(db.as_ref(), &src, "cm-1.pack", &sha).await;
    let fifo = src.join(sct::hierarchy_folder(&own)).join("cm-1.pack");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    import_refused(db.as_ref(), &src, "a pipe", "not a regular file").await;
    // Sizes are bounded before a byte is read: a pack past 64 MiB and a manifest past 1 MiB
    // (sparse files: nothing is written to disk).
    let src = root.path().join("src-huge-pack");
    manifest_naming(db.as_ref(), &src, "cm-1.pack", &sha).await;
    let huge =
        std::fs::File::create(src.join(sct::hierarchy_folder(&own)).join("cm-1.pack")).unwrap();
    huge.set_len((64 << 20) + 1).unwrap();
    let err = sct::import(db.as_ref(), &src)
        .await
        .expect_err("a huge pack");
    assert!(err.to_string().contains("cm-1.pack"), "{err}");
    assert!(err.to_string().contains("more than the"), "{err}");
    let src = root.path().join("src-huge-manifest");
    manifest_naming(db.as_ref(), &src, "cm-1.pack", &sha).await;
    let manifest = src.join(sct::hierarchy_folder(&own)).join(sct::MANIFEST);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&manifest)
        .unwrap()
        .set_len((1 << 20) + 1)
        .unwrap();
    let err = sct::import(db.as_ref(), &src)
        .await
        .expect_err("a huge manifest");
    assert!(err.to_string().contains("manifest.json"), "{err}");
    assert!(err.to_string().contains("more than the"), "{err}");
    // Found by a later attack: a manifest that is a pipe or a link to a device, and a
    // hierarchy folder that is a link, were passed over in silence ("imported 0"); a pack id
    // that is a path went into the site's table, and a pack listed twice was imported twice.
    let src = root.path().join("src-fifo-manifest");
    let folder = src.join(sct::hierarchy_folder(&own));
    std::fs::create_dir_all(&folder).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(folder.join(sct::MANIFEST))
        .status()
        .unwrap();
    assert!(made.success());
    import_refused(
        db.as_ref(),
        &src,
        "a pipe for a manifest",
        "not a regular file",
    )
    .await;
    let src = root.path().join("src-linked-folder");
    manifest_naming(db.as_ref(), &root.path().join("real"), "cm-1.pack", &sha).await;
    std::fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(
        root.path().join("real").join(sct::hierarchy_folder(&own)),
        src.join(sct::hierarchy_folder(&own)),
    )
    .unwrap();
    import_refused(
        db.as_ref(),
        &src,
        "a linked folder",
        "a link in the transfer folder",
    )
    .await;
    // Found by a second attack: a link that leads nowhere or to a file was still passed over;
    // a copy of a hierarchy's manifest in a folder of another name imported its packs twice.
    for (what, target) in [
        ("a dangling link", root.path().join("nowhere")),
        ("a link to a file", outside.clone()),
    ] {
        let src = root.path().join(format!("src-{}", what.replace(' ', "-")));
        std::fs::create_dir_all(&src).unwrap();
        std::os::unix::fs::symlink(&target, src.join(sct::hierarchy_folder(&own))).unwrap();
        import_refused(db.as_ref(), &src, what, "a link in the transfer folder").await;
    }
    let src = root.path().join("src-copied-folder");
    manifest_naming(db.as_ref(), &src, "cm-1.pack", &sha).await;
    std::fs::write(
        src.join(sct::hierarchy_folder(&own)).join("cm-1.pack"),
        b"not a pack",
    )
    .unwrap();
    let copy = src.join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    for name in [sct::MANIFEST, "cm-1.pack"] {
        std::fs::copy(
            src.join(sct::hierarchy_folder(&own)).join(name),
            copy.join(name),
        )
        .unwrap();
    }
    import_refused(
        db.as_ref(),
        &src,
        "a copied folder",
        "not in a folder named `copy`",
    )
    .await;
    for (what, packs, says) in [
        (
            "an id that is a path",
            serde_json::json!([{"id": "../../x", "name": "n", "version": "5.00.9128.1000", "sha256": sha, "file": "cm-1.pack"}]),
            "not a pack id",
        ),
        (
            "a pack twice",
            serde_json::json!([
                {"id": "cm-1", "name": "n", "version": "5.00.9128.1000", "sha256": sha, "file": "cm-1.pack"},
                {"id": "CM-1", "name": "n", "version": "5.00.9128.1000", "sha256": sha, "file": "cm-1.pack"},
            ]),
            "listed twice",
        ),
    ] {
        let src = root.path().join(format!("src-{}", what.replace(' ', "-")));
        let folder = src.join(sct::hierarchy_folder(&own));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("cm-1.pack"), b"not a pack").unwrap();
        let manifest = serde_json::json!({"hierarchy_id": own, "packs": packs});
        std::fs::write(folder.join(sct::MANIFEST), manifest.to_string()).unwrap();
        import_refused(db.as_ref(), &src, what, says).await;
    }
    assert!(db.update_packs().await.unwrap().is_empty());
}

#[tokio::test]
async fn sct_prepare_runs_at_a_child_primary() {
    let root = tempfile::tempdir().unwrap();
    let mut dbs = sites(root.path(), true).await;
    let child = dbs.pop().unwrap();
    assert!(child.site_info().await.unwrap().parent.is_some());
    let dest = root.path().join("UsageData.cab");
    let err = sct::prepare(child.as_ref(), Catalog::shipped(), None, &dest)
        .await
        .expect_err("a child primary has no service connection point");
    assert!(matches!(err, SctError::NotTopLevel { .. }), "{err}");
    assert!(!dest.exists());
    let err = sct::export(
        child.as_ref(),
        Catalog::shipped(),
        None,
        &root.path().join("UsageData.csv"),
    )
    .await
    .expect_err("nor does export run there");
    assert!(matches!(err, SctError::NotTopLevel { .. }), "{err}");
    // The CAS prepares the whole hierarchy.
    sct::prepare(dbs[0].as_ref(), Catalog::shipped(), None, &dest)
        .await
        .unwrap();
}

/// `prepare` and `export` shared one temporary file: with the README's names, 1 run in 30 left
/// `UsageData.csv` holding the cabinet while export exited 0. Each write now has a temporary
/// file of its own; 30 concurrent rounds leave a cabinet and a CSV file, each whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepare_and_export_share_one_temp_file() {
    let root = tempfile::tempdir().unwrap();
    let db = sites(&root.path().join("sites"), false).await.remove(0);
    let usb = root.path().join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    let (cab_path, csv_path) = (usb.join("UsageData.cab"), usb.join("UsageData.csv"));
    for _ in 0..30 {
        let (cab, csv) = tokio::join!(
            sct::prepare(db.as_ref(), Catalog::shipped(), None, &cab_path),
            sct::export(db.as_ref(), Catalog::shipped(), None, &csv_path),
        );
        cab.unwrap();
        csv.unwrap();
        let cab = std::fs::read(usb.join("UsageData.cab")).unwrap();
        assert_eq!(&cab[..4], b"MSCF", "the cabinet is a cabinet");
        let csv = std::fs::read_to_string(usb.join("UsageData.csv")).unwrap();
        assert!(csv.starts_with("hierarchy_id,week,"), "the CSV is CSV");
    }
    let names: Vec<_> = std::fs::read_dir(&usb)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no temporary file left behind: {names:?}");
}

/// Found by a second attack: `-connect` followed a redirect of a pack download to another port,
/// read answers and packs of any size, and read any `*.cab` (a 3 GB one, or a link) whole.
#[tokio::test]
async fn sct_connect_follows_redirects_and_reads_without_bound() {
    let root = tempfile::tempdir().unwrap();
    let hash = prepared(root.path()).await;
    let stolen = Arc::new(AtomicUsize::new(0));
    let elsewhere = bystander(stolen.clone()).await;
    // A pack whose download answers 302 to another port.
    let location = format!("http://{elsewhere}/v1/updatepacks/cm-1");
    let app = Router::new()
        .route(
            "/v1/sct/connect",
            post({
                let answer = answer(&hash, vec![offer("cm-1", "/v1/updatepacks/cm-1")]);
                move || async move { axum::Json(answer) }
            }),
        )
        .fallback(any(move || async move {
            (
                axum::http::StatusCode::FOUND,
                [(axum::http::header::LOCATION, location)],
            )
        }));
    let url = serve(app).await;
    let err = connect_from_transfer(&url, root.path(), &root.path().join("a"))
        .await
        .expect_err("a redirect is not followed");
    assert!(err.to_string().contains("302"), "{err}");
    assert_eq!(
        stolen.load(Ordering::SeqCst),
        0,
        "nothing went to the other port"
    );
    // An answer larger than any -connect answer.
    let huge = "x".repeat(usage_protocol::client::MAX_CONNECT_ANSWER_BYTES + 1);
    let app = Router::new().route("/v1/sct/connect", post(move || async move { huge }));
    let url = serve(app).await;
    let err = connect_from_transfer(&url, root.path(), &root.path().join("b"))
        .await
        .expect_err("refused past the bound");
    assert!(err.to_string().contains("larger than"), "{err}");
    // A link named *.cab is not read.
    let linked = root.path().join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink("/dev/zero", linked.join("Zero.cab")).unwrap();
    let err = sct::connect(
        &url,
        &Credentials::Token("t".into()),
        &linked,
        &root.path().join("c"),
    )
    .await
    .expect_err("no cabinet");
    assert!(matches!(err, SctError::NoCabinets { .. }), "{err}");
}
