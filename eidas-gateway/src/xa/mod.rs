//! The demo's fictitious second country, XA: its proxy service (a register of foreign demo persons
//! with a simple login page) under `/xa/proxy/`, and its connector with a demo service under
//! `/xa/connector/` and `/xa/service/`.

use std::sync::Arc;

use axum::Router;

/// The demo country's state.
pub struct DemoCountry {}

/// The demo country's routes.
pub fn routes(xa: Arc<DemoCountry>) -> Router {
    let _ = xa;
    Router::new()
}
