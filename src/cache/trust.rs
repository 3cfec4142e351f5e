//! The trust of a run: the workspace's `signing` settings (which config checked) and the
//! key in `KILN_SIGNING_KEY`, read once per ladder. A key that cannot be read then
//! fails closed: shared entries are still checked, against the keys that are left.

use crate::model::Settings;
use crate::signing::{PublicKey, Trust};

/// What `settings` say to sign with and to trust. A key that cannot be read now (the
/// file went away since the workspace was loaded) signs nothing; what is trusted stays.
pub fn of(settings: &Settings) -> Trust {
    let signing = &settings.signing;
    let trust = Trust::load(
        &signing.trusted,
        signing.key_file.as_deref(),
        signing.require_signed,
    )
    .unwrap_or_else(|e| {
        // Fail closed: what was to be checked is still checked.
        tracing::warn!("signing: {e}; nothing this run stores is signed");
        let trusted: Vec<_> = signing
            .trusted
            .iter()
            .filter_map(|text| PublicKey::parse(text).ok())
            .collect();
        match trusted.is_empty() {
            true => Trust::closed(signing.require_signed),
            false => Trust::new(None, trusted, signing.require_signed),
        }
    });
    if trust.checks() {
        tracing::debug!(
            "shared cache entries: signed with {}; entries not signed by a trusted key are {}",
            trust
                .signer_id()
                .map_or("no key".to_owned(), |id| format!("key {id}")),
            if trust.required() {
                "errors"
            } else {
                "not used"
            }
        );
    }
    trust
}
