//! What a provider implements. No gRPC or wire types appear here: the server
//! decodes values against the schema before calling in, and encodes after.

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::diag::{AttributePath, Diagnostics};
use crate::schema::Schema;
use crate::value::Value;

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// The `provider` block's schema.
    fn schema(&self) -> Schema;
    fn resources(&self) -> Vec<Arc<dyn Resource>>;
    /// Static checks of the provider block; values may be unknown.
    fn validate(&self, _config: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    /// Called once, before any resource operation that needs it.
    async fn configure(&self, config: &Value) -> Diagnostics;
}

/// A change Terraform wants planned. `prior` is null on create.
pub struct PlanRequest<'a> {
    pub prior: &'a Value,
    /// Terraform's merge of config and prior state; never null here
    /// (destroy plans are handled by the server).
    pub proposed: &'a Value,
    pub config: &'a Value,
}

#[derive(Debug, Default)]
pub struct Planned {
    pub state: Value,
    /// Attributes whose change means replace rather than update.
    pub requires_replace: Vec<AttributePath>,
    pub diagnostics: Diagnostics,
}

/// A planned create or update to carry out. `prior` is null on create.
pub struct ApplyRequest<'a> {
    pub prior: &'a Value,
    pub planned: &'a Value,
    pub config: &'a Value,
    /// Cancelled when Terraform asks the provider to stop (Ctrl-C).
    pub stop: &'a CancellationToken,
}

#[derive(Debug, Default)]
pub struct Applied {
    /// What is true now. With errors this may be the prior state or a partial
    /// one; Terraform stores it either way. Null means "nothing exists".
    pub state: Value,
    pub diagnostics: Diagnostics,
}

pub struct ReadRequest<'a> {
    pub state: &'a Value,
    pub stop: &'a CancellationToken,
}

#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// The full type name, prefixed by the provider name: `example_widget`.
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Static checks at validate and plan time; values may be unknown.
    fn validate(&self, config: &Value) -> Diagnostics;
    async fn plan(&self, request: PlanRequest<'_>) -> Planned;
    async fn apply(&self, request: ApplyRequest<'_>) -> Applied;
    /// Destroy. The default removes the resource from state and touches nothing.
    async fn delete(&self, _prior: &Value, _stop: &CancellationToken) -> Diagnostics {
        Diagnostics::default()
    }
    /// Rewrites a state stored under an older schema `version` (its cty
    /// JSON object) into the current schema's shape, before attributes the
    /// current schema does not declare are dropped and defaults completed.
    /// A resource that bumps its schema version handles each older version
    /// here (renames, changed types, values moved between attributes); the
    /// default has nothing to rewrite.
    fn upgrade_state(
        &self,
        version: i64,
        state: &mut serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Diagnostics> {
        let _ = (version, state);
        Ok(())
    }
    /// The remote truth for a stored state; `Ok(Value::Null)` when it is gone.
    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics>;
    /// The state for `terraform import` with this id.
    async fn import(&self, id: &str, stop: &CancellationToken) -> Result<Value, Diagnostics>;
}
