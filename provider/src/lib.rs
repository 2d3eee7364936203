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
pub mod resources;
pub mod routers;

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use tfplugin::{Diagnostics, Resource, Schema, Value};

use crate::aws::Clients;

/// What resources share: the AWS clients made at ConfigureProvider.
#[derive(Default)]
pub struct Shared {
    clients: RwLock<Option<Clients>>,
}

impl Shared {
    pub fn clients(&self) -> Result<Clients, Diagnostics> {
        self.clients.read().ok().and_then(|c| c.clone()).ok_or_else(|| {
            Diagnostics::single("Provider not configured", "Terraform did not configure the provider before using it; this is a bug in Terraform or the provider.")
        })
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
        ]
    }

    fn validate(&self, config: &Value) -> Diagnostics {
        config::validate(config)
    }

    async fn configure(&self, config: &Value) -> Diagnostics {
        let parsed = match config::parse(config) {
            Ok(parsed) => parsed,
            Err(d) => return d,
        };
        match aws::connect(&parsed).await {
            Ok(clients) => {
                if let Ok(mut slot) = self.shared.clients.write() {
                    *slot = Some(clients);
                }
                Diagnostics::default()
            }
            Err(e) => Diagnostics::single("Cannot configure AWS", e.to_string()),
        }
    }
}
