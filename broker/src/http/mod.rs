//! HTTP: thin handlers translating requests into flow calls and outcomes into responses.

mod admin;
mod admin_messages;
pub use admin::registration_from_json;
mod error;
mod login;
mod logout;
mod my;
mod oidc;
mod pages;
mod represent;
mod saml;
mod saml_admin;
mod saml_repost;
mod slo;
pub use saml_admin::{MAX_ENTITY_ID_LEN, is_valid_entity_id};

use axum::Router;
use axum::routing::{get, post, put};
use eid_web::Platform;
use std::sync::Arc;

use crate::state::Broker;

/// Binds pending logins to one browser.
pub const BROWSER_COOKIE: &str = "broker_browser";
/// The SSO session.
pub const SESSION_COOKIE: &str = "broker_session";
/// The logout continuation while the person is at the upstream's logout.
pub const LOGOUT_COOKIE: &str = "broker_logout";

/// The broker's router on its own origin.
pub fn router(platform: &Platform, broker: Arc<Broker>) -> Router {
    let routes = Router::new()
        .route("/", get(login::landing))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/jwks", get(oidc::jwks))
        .route("/authorize", get(oidc::authorize).post(oidc::authorize))
        .route("/par", post(oidc::par))
        .route("/token", post(oidc::token))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/revoke", post(oidc::revoke))
        .route("/introspect", post(oidc::introspect))
        .route("/logout", get(oidc::logout).post(oidc::logout))
        .route("/logout/confirm", post(oidc::logout_confirm))
        .route("/logout/done", get(oidc::logout_done))
        .route("/login/start", post(login::start))
        .route("/login/cancel", post(login::cancel))
        .route("/login/represent", post(represent::represent))
        .route("/my", get(my::my_log))
        .route("/my/export", get(my::export))
        .route("/my/services", get(my::services))
        .route("/my/not-logged-in", get(my::not_logged_in))
        .route("/upstream/{name}/callback", get(login::callback))
        .route(crate::saml::METADATA_PATH, get(saml::metadata))
        .route(
            crate::saml::SSO_PATH,
            get(saml::sso_redirect).post(saml::sso_post),
        )
        .route(crate::saml::POST_SCRIPT_PATH, get(saml::post_script))
        .route(
            crate::saml::SLO_PATH,
            get(slo::slo_redirect).post(slo::slo_post),
        )
        .route(crate::saml::slo::SOAP_PATH, post(slo::slo_soap))
        .route("/admin/protocol-messages", get(admin_messages::list))
        .route("/admin/relying-parties", get(admin::list))
        .route(
            "/admin/relying-parties/{client_id}",
            put(admin::upsert).get(admin::get).delete(admin::delete),
        )
        .route("/admin/saml-service-providers", get(saml_admin::list))
        .route(
            "/admin/saml-service-providers/{entity_id}",
            put(saml_admin::upsert)
                .get(saml_admin::get)
                .delete(saml_admin::delete),
        )
        .route(
            "/static/eid.css",
            get(|| async { eid_web::assets::stylesheet() }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { eid_web::assets::favicon() }),
        )
        .fallback(error::not_found)
        .with_state(broker);
    platform.finish(routes)
}
