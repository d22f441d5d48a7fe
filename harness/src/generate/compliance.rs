//! Software update compliance (`Update_ComplianceStatus`), produced in the table's key order,
//! `(CI_ID, ItemKey)`: the product clusters the table by update, so the rows are appended to its
//! B-tree as they come, and a probe that counts per update reads them in order without a sort.
//!
//! Each client holds the states of `updates_per_client` consecutive updates of the catalog,
//! wrapping at its end, from a start drawn from the client's own stream. So the clients whose run
//! covers update `j` are those whose start lies at most `updates_per_client - 1` updates before
//! `j`: a window that slides one update at a time. Each state is a pure function of the site's
//! seed, the client and the state's place in the client's run, so the order in which the rows
//! are produced changes no value. Memory: about three `u32` a client, never a row of the table.

use std::collections::BTreeSet;

use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;

use super::clients::{item_key, update_ci_id};
use super::{BATCH_ROWS, rng, weighted};
use crate::model::{Compliance, SiteModel, derive_seed};

/// Hands a site's compliance states to `emit`, in batches of [`BATCH_ROWS`], update by update and
/// within an update client by client.
pub(super) fn stream<E>(
    site: &SiteModel,
    mut emit: impl FnMut(Vec<Compliance>) -> Result<(), E>,
) -> Result<(), E> {
    let updates = site.updates;
    let per_client = site.updates_per_client.min(updates);
    if updates == 0 || per_client == 0 || site.clients == 0 {
        return Ok(());
    }
    let starts: Vec<u32> = (0..site.clients).map(|i| run_start(site, i)).collect();
    let by_start = ClientsByStart::new(&starts, updates);
    let states_seed = derive_seed(site.seed, "compliance/state");
    // The window for update 0: start 0, and the runs that wrap from the catalog's end.
    let mut covering: BTreeSet<u32> = by_start.bucket(0).iter().copied().collect();
    for s in (updates - per_client + 1)..updates {
        covering.extend(by_start.bucket(s));
    }
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    for j in 0..updates {
        // When every client holds every update the window never moves.
        if j > 0 && per_client < updates {
            for client in by_start.bucket((j + updates - per_client) % updates) {
                covering.remove(client);
            }
            covering.extend(by_start.bucket(j));
        }
        let ci_id = update_ci_id(j);
        for &client in &covering {
            let place = (j + updates - starts[client as usize]) % updates;
            batch.push(state(states_seed, client, place, ci_id));
            if batch.len() == BATCH_ROWS {
                emit(std::mem::replace(
                    &mut batch,
                    Vec::with_capacity(BATCH_ROWS),
                ))?;
            }
        }
    }
    if !batch.is_empty() {
        emit(batch)?;
    }
    Ok(())
}

/// Where client `index`'s run of updates starts in the catalog.
fn run_start(site: &SiteModel, index: u32) -> u32 {
    rng(site, "compliance", u64::from(index)).random_range(0..site.updates)
}

/// The state of the update at `place` in `client`'s run. A generator seeded for the one state:
/// cheap to seed (no hash of a label per row), and independent of every other state's.
fn state(states_seed: u64, client: u32, place: u32, ci_id: i64) -> Compliance {
    let mut r =
        XorShiftRng::seed_from_u64(states_seed ^ (u64::from(client) << 32 | u64::from(place)));
    let status = weighted(&mut r, &[(3u8, 70), (2, 15), (1, 15)]);
    let error_code = (status == 2 && r.random_bool(0.3)).then(|| weighted(&mut r, UPDATE_ERRORS));
    Compliance {
        item_key: item_key(client),
        update_ci_id: ci_id,
        status,
        error_code,
    }
}

/// The clients grouped by the start of their run, ascending within a group (a counting sort).
struct ClientsByStart {
    /// Group `s` is `clients[first[s]..first[s + 1]]`.
    first: Vec<usize>,
    clients: Vec<u32>,
}

impl ClientsByStart {
    fn new(starts: &[u32], updates: u32) -> Self {
        let mut first = vec![0usize; updates as usize + 1];
        for &s in starts {
            first[s as usize + 1] += 1;
        }
        for s in 0..updates as usize {
            first[s + 1] += first[s];
        }
        let mut next = first.clone();
        let mut clients = vec![0u32; starts.len()];
        for (client, &s) in starts.iter().enumerate() {
            clients[next[s as usize]] = client as u32;
            next[s as usize] += 1;
        }
        Self { first, clients }
    }

    fn bucket(&self, start: u32) -> &[u32] {
        &self.clients[self.first[start as usize]..self.first[start as usize + 1]]
    }
}

/// Windows Update error codes (as the unsigned 32-bit values the client reports) and weights.
const UPDATE_ERRORS: &[(i64, u32)] = &[
    (0x8024_4022, 30), // WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL
    (0x8024_402C, 20), // WU_E_PT_WINHTTP_NAME_NOT_RESOLVED
    (0x8007_0005, 15), // E_ACCESSDENIED
    (0x800F_081F, 10), // CBS_E_SOURCE_MISSING
    (0x8024_0022, 15), // WU_E_ALL_UPDATES_FAILED
    (0x8007_0643, 10), // ERROR_INSTALL_FAILURE
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The smoke scenario's site, cut to 200 clients.
    fn small_site() -> SiteModel {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/smoke.toml");
        let scenario = crate::scenario::Scenario::load(std::path::Path::new(path)).unwrap();
        let mut site = crate::model::HierarchyModel::from_scenario(&scenario).sites[0].clone();
        site.clients = 200;
        site
    }

    /// Every client's run, as the window produces it, is the run its start gives: exactly
    /// `updates_per_client` consecutive updates, each once, and the table's key order holds.
    fn check(clients: u32, updates: u32, per_client: u32) {
        let mut site = small_site();
        site.clients = clients;
        site.updates = updates;
        site.updates_per_client = per_client;
        let mut rows = Vec::new();
        stream(&site, |batch| {
            assert!(batch.len() <= BATCH_ROWS);
            rows.extend(batch);
            Ok::<(), ()>(())
        })
        .unwrap();
        if updates == 0 {
            assert!(rows.is_empty(), "no catalog, no states");
            return;
        }
        let per_client = per_client.min(updates);
        assert_eq!(
            rows.len() as u64,
            u64::from(clients) * u64::from(per_client)
        );
        let keys: Vec<(i64, i64)> = rows.iter().map(|r| (r.update_ci_id, r.item_key)).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "(CI_ID, ItemKey) ascending, no repeat"
        );
        for client in 0..clients {
            let start = run_start(&site, client);
            let mut held: Vec<i64> = rows
                .iter()
                .filter(|r| r.item_key == item_key(client))
                .map(|r| r.update_ci_id)
                .collect();
            let mut run: Vec<i64> = (0..per_client)
                .map(|k| update_ci_id((start + k) % updates))
                .collect();
            held.sort_unstable();
            run.sort_unstable();
            assert_eq!(held, run, "client {client}, start {start}");
        }
    }

    #[test]
    fn each_client_holds_its_run_in_key_order() {
        check(300, 50, 7); // runs that wrap
        check(40, 10, 10); // every client holds every update
        check(40, 10, 25); // more per client than the catalog holds
        check(25, 3, 1);
        check(1, 1, 1);
        check(0, 10, 3);
        check(50, 0, 3);
    }

    #[test]
    fn the_same_seed_gives_the_same_states() {
        let site = small_site();
        let collect = || {
            let mut rows = Vec::new();
            stream(&site, |b| {
                rows.extend(b);
                Ok::<(), ()>(())
            })
            .unwrap();
            rows
        };
        assert_eq!(collect(), collect());
    }
}
