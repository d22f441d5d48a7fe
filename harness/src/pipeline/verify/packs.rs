//! After an offline run: the top-level site holds exactly the update packs the service offers
//! for its version once any `-connect` carried its data, and none before.

use crate::engine::EngineError;
use crate::finding::{Finding, FindingCode};
use crate::mock;
use crate::pipeline::seed::SeededHierarchy;

pub(super) async fn check_update_packs(
    hierarchy: &SeededHierarchy,
    connected: bool,
) -> Result<Option<Finding>, EngineError> {
    let top = hierarchy.top();
    let imported: Vec<String> = top
        .db
        .update_packs()
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut expected = if connected {
        mock::offered_packs(&hierarchy.model.version)
    } else {
        Vec::new()
    };
    expected.sort();
    Ok((imported != expected).then(|| {
        Finding::new(
            FindingCode::UpdatePacks,
            format!(
                "{}site {} imported update packs {imported:?}; expected {expected:?}",
                hierarchy.label, top.model.code
            ),
        )
        .site(&hierarchy.site_label(&top.model.code))
    }))
}
