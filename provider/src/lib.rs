//! The `progressive` Terraform provider: progressive delivery on AWS inside
//! `terraform apply`.
//!
//! Layers: [`engine`] decides (no AWS, no gRPC); [`aws`] adapts AWS to the
//! engine's ports; [`resources`] map Terraform values to both; the
//! `tfplugin` crate speaks the plugin protocol.

pub mod aws;
pub mod config;
pub mod duration;
pub mod engine;
pub mod report;
pub mod resources;
pub mod routers;

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tfplugin::{Diagnostics, Resource, Schema, Value};

use crate::aws::Clients;

/// The provider's name: what configurations write in `provider "…"` and
/// before every resource type (`progressive_canary_gate`).
pub const PROVIDER_NAME: &str = "progressive";

/// What resources share: the AWS clients made at ConfigureProvider.
#[derive(Default)]
pub struct Shared {
    connection: RwLock<Connection>,
}

/// How far ConfigureProvider got.
#[derive(Default, Clone)]
enum Connection {
    #[default]
    Unconfigured,
    /// The configuration holds values known only after apply (these
    /// attributes): AWS calls wait until Terraform configures the provider
    /// again, at apply, with them known.
    Deferred(Vec<String>),
    Ready(Box<Clients>),
}

impl Shared {
    pub fn clients(&self) -> Result<Clients, Diagnostics> {
        match self.connection.read().map(|c| c.clone()).unwrap_or_default() {
            Connection::Ready(clients) => Ok(*clients),
            Connection::Deferred(unknown) => Err(Diagnostics::single(
                "Provider configuration not known yet",
                format!(
                    "The provider configuration's {} is known only after apply, and this needs AWS. It runs at apply, once the value is known;                      a plan skips the checks that need AWS, and an import needs a configuration known at plan time.",
                    unknown.join(", ")
                ),
            )),
            Connection::Unconfigured => Err(Diagnostics::single(
                "Provider not configured",
                "Terraform did not configure the provider before using it; this is a bug in Terraform or the provider.",
            )),
        }
    }

    /// Whether AWS calls wait for apply because the configuration holds
    /// values known only then: reads keep the stored state meanwhile.
    pub fn deferred(&self) -> bool {
        matches!(self.connection.read().map(|c| c.clone()).unwrap_or_default(), Connection::Deferred(_))
    }

    fn set(&self, connection: Connection) {
        if let Ok(mut slot) = self.connection.write() {
            *slot = connection;
        }
    }
}

#[derive(Default)]
pub struct ProgressiveProvider {
    shared: Arc<Shared>,
}

#[async_trait]
impl tfplugin::Provider for ProgressiveProvider {
    fn schema(&self) -> Schema {
        config::schema()
    }

    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![
            Arc::new(resources::canary_gate::CanaryGate::new(self.shared.clone())),
            Arc::new(resources::rollout::RolloutResource::new(self.shared.clone())),
            Arc::new(resources::codedeploy_deployment::CodeDeployDeployment::new(self.shared.clone())),
            Arc::new(resources::feature_flag::FeatureFlag::new(self.shared.clone())),
        ]
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        config::validate(config)
    }

    async fn configure(&self, config: &Value) -> Diagnostics {
        // A value known only after apply (a role created by the same
        // configuration) must not fail the plan: what needs AWS waits.
        let unknown = config::unknown_attributes(config);
        if !unknown.is_empty() {
            let invalid = config::validate(config);
            if invalid.has_errors() {
                return invalid;
            }
            self.shared.set(Connection::Deferred(unknown));
            return Diagnostics::default();
        }
        let parsed = match config::parse(config) {
            Ok(parsed) => parsed,
            Err(d) => return d,
        };
        match aws::connect(&parsed).await {
            Ok(clients) => {
                self.shared.set(Connection::Ready(Box::new(clients)));
                Diagnostics::default()
            }
            Err(e) => Diagnostics::single("Cannot configure AWS", e.to_string()),
        }
    }
}
