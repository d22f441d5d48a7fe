//! The harness's one door to the mock cloud service's insides: start it in-process (for a run,
//! for `harness upstream`, for `load-upstream`), ask which update packs it offers a version
//! (the oracle of an offline run's imports), and read a kept store without starting the server
//! on it (`harness check`). Everything else goes over HTTP through [`usage_protocol::client`],
//! as a real service connection point's traffic does.

use std::path::Path;

use usage_protocol::receipt::Receipt;

pub use mock_upstream::server::ServerError;
pub use mock_upstream::store::StoreError;
pub use mock_upstream::{Config, RunningServer, ServeArgs};

/// Starts the mock upstream on a free loopback port, keeping its data in `data_dir`. On
/// `simulated_time` it answers latency faults at once, saying how late the answer would have
/// been, for a client whose clock is simulated (a scenario run); otherwise it sleeps them.
pub async fn start(data_dir: &Path, simulated_time: bool) -> Result<RunningServer, ServerError> {
    mock_upstream::start(Config {
        simulate_latency: simulated_time,
        ..Config::new(data_dir)
    })
    .await
}

/// Serves until SIGINT or SIGTERM (`harness upstream`).
pub async fn serve_until_signal(config: Config) -> Result<(), ServerError> {
    mock_upstream::serve_until_signal(config).await
}

/// The ids of the update packs the service offers a site at `version`, oldest first; none for a
/// version it does not understand.
pub fn offered_packs(version: &str) -> Vec<String> {
    mock_upstream::update_packs::Catalog::shipped()
        .applicable(version)
        .unwrap_or_default()
        .into_iter()
        .map(|offer| offer.id)
        .collect()
}

/// Every upload a kept store holds (its `data_dir`, as [`start`] was given it), receipt and
/// decompressed body, oldest first — read only: nothing in the folder changes and no server runs.
pub fn stored_uploads(data_dir: &Path) -> Result<Vec<(Receipt, Vec<u8>)>, StoreError> {
    mock_upstream::store::read_only(data_dir)
}
