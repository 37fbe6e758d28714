//! A login from a frontend's request through an upstream and back, for every frontend: the pending
//! login ([`pending`]), the upstreams that fit it ([`fit`]), the frontends' requests and answers
//! ([`frontend`]), and the upstream round trip that hands the person's identity to the core
//! ([`flow`]).

pub mod fit;
pub mod flow;
pub mod frontend;
pub mod pending;
pub mod represent;

pub use frontend::{Answer, ExplainedRefusal, FrontendRequest, Refusal};
pub use pending::PendingLogin;
pub use represent::{ChoiceOutcome, PendingChoice};
