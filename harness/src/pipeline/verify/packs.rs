//! After an offline run: the top-level site holds exactly the update packs the service offers
//! for its version once any `-connect` carried its data, and none before.

use super::HierarchyFacts;
use crate::finding::{Finding, FindingCode};
use crate::mock;

/// `imported`: the pack IDs the top-level site lists, in its order (by ID).
pub(super) fn check_update_packs(
    hierarchy: &HierarchyFacts,
    imported: &[String],
    connected: bool,
) -> Option<Finding> {
    let top = hierarchy.model.top();
    let mut expected = if connected {
        mock::offered_packs(&hierarchy.model.version)
    } else {
        Vec::new()
    };
    expected.sort();
    (imported != expected).then(|| {
        Finding::new(
            FindingCode::UpdatePacks,
            format!(
                "{}site {} imported update packs {imported:?}; expected {expected:?}",
                hierarchy.label, top.code
            ),
        )
        .site(&hierarchy.site_label(&top.code))
    })
}
