//! HTTP: thin handlers that translate requests into flow calls and outcomes into responses.

mod account;
mod app;
mod assets;
mod error;
mod login;
mod logout;
mod oidc;
mod pages;
mod request;

use axum::Router;
use axum::routing::{get, post};
use eid_web::Platform;
use std::sync::Arc;

use crate::state::Idp;

pub use error::HttpError;

/// The authenticator's router on its own origin.
pub fn router(platform: &Platform, idp: Arc<Idp>) -> Router {
    let routes = Router::new()
        .route("/", get(account::landing))
        .route("/.well-known/openid-configuration", get(oidc::discovery))
        .route("/jwks", get(oidc::jwks))
        .route("/authorize", get(oidc::authorize).post(oidc::authorize))
        .route("/par", post(oidc::par))
        .route("/token", post(oidc::token))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/logout", get(logout::logout))
        .route("/logout/confirm", post(logout::confirm))
        .route("/login", get(login::page))
        .route("/login/user", post(login::user))
        .route("/login/password", post(login::password))
        .route("/login/code-display", post(login::code_display))
        .route("/login/passkey/options", get(login::passkey_options))
        .route("/login/passkey", post(login::passkey))
        .route("/login/app/start", post(login::app_start))
        .route("/login/app/status", get(login::app_status))
        .route("/login/app/finish", post(login::app_finish))
        .route("/login/cancel", post(login::cancel))
        .route("/login/restart", post(login::restart))
        .route("/login/continue", post(login::continue_session))
        .route("/login/other", post(login::other_method))
        .route("/help/forgotten", get(login::help_forgotten))
        .route(
            "/activate",
            get(account::activate_page).post(account::activate),
        )
        .route("/account", get(account::overview))
        .route("/account/logout", post(account::logout))
        .route("/account/remove", post(account::remove))
        .route("/account/rename", post(account::rename))
        .route("/account/password", post(account::set_password))
        .route(
            "/account/code-display/start",
            post(account::code_display_start),
        )
        .route(
            "/account/code-display/confirm",
            post(account::code_display_confirm),
        )
        .route("/account/passkey/options", post(account::passkey_options))
        .route("/account/passkey", post(account::passkey_register))
        .route("/account/app/pairing-code", post(account::pairing_code))
        .route("/app", get(app::page))
        .route("/app/status", get(app::status))
        .route("/app/pair", post(app::pair))
        .route("/app/respond", post(app::respond))
        .route("/static/{file}", get(assets::file))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(error::localize))
        .with_state(idp);
    platform.finish(routes)
}
