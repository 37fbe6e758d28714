//! Fakes of the broker's ports for its unit tests.

use async_trait::async_trait;
use std::sync::Mutex;

use crate::ports::LogoutNotifier;

/// A notifier that records every delivery and acknowledges it.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    /// `(uri, logout_token)` of each delivery.
    pub delivered: Mutex<Vec<(String, String)>>,
    /// `(uri, SOAP envelope)` of each SAML back-channel logout (not acknowledged: no reply).
    pub soap: Mutex<Vec<(String, String)>>,
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

    async fn deliver_soap(&self, uri: &str, envelope: &str) -> Option<String> {
        self.soap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((uri.to_owned(), envelope.to_owned()));
        None
    }
}
