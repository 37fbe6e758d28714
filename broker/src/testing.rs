//! Fakes of the broker's ports for its unit tests.

use async_trait::async_trait;
use std::sync::Mutex;

use crate::ports::LogoutNotifier;

/// A notifier that records every delivery and acknowledges it.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    /// `(uri, logout_token)` of each delivery.
    pub delivered: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl LogoutNotifier for RecordingNotifier {
    async fn deliver(&self, uri: &str, logout_token: &str) -> bool {
        self.delivered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((uri.to_owned(), logout_token.to_owned()));
        true
    }
}
