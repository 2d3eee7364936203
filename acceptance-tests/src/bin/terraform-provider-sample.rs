//! A provider of one resource, `sample_note`, built on `tfplugin` alone: the
//! acceptance tests run it under the real Terraform to check what the crate
//! does for any provider (deprecation messages, transports) apart from this
//! repository's provider. Its notes exist only in Terraform's state.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use tfplugin::{
    Applied, ApplyRequest, Attribute, Block, Diagnostics, PlanRequest, Planned, Provider, ReadRequest, Resource,
    Schema, Type, Value,
};
use tokio_util::sync::CancellationToken;

/// The message the tests look for in Terraform's output.
const LABEL_DEPRECATION: &str = "Use `text` instead; `label` goes away in the next major version.";

struct Sample;

#[async_trait]
impl Provider for Sample {
    fn schema(&self) -> Schema {
        Schema::new(0, Block::new("The sample provider takes no settings."))
    }
    fn resources(&self) -> Vec<Arc<dyn Resource>> {
        vec![Arc::new(Note)]
    }
    async fn configure(&self, _: &Value) -> Diagnostics {
        Diagnostics::default()
    }
}

struct Note;

#[async_trait]
impl Resource for Note {
    fn type_name(&self) -> &'static str {
        "sample_note"
    }
    fn schema(&self) -> Schema {
        Schema::new(
            0,
            Block::new("A note kept in state.")
                .attribute(Attribute::required("text", Type::String, "The note."))
                .attribute(Attribute::optional("label", Type::String, "A label.").deprecated(LABEL_DEPRECATION)),
        )
    }
    fn validate(&self, _: &Value) -> Diagnostics {
        Diagnostics::default()
    }
    async fn plan(&self, request: PlanRequest<'_>) -> Planned {
        Planned { state: request.proposed.clone(), ..Planned::default() }
    }
    async fn apply(&self, request: ApplyRequest<'_>) -> Applied {
        Applied { state: request.planned.clone(), diagnostics: Diagnostics::default() }
    }
    async fn read(&self, request: ReadRequest<'_>) -> Result<Value, Diagnostics> {
        Ok(request.state.clone())
    }
    async fn import(&self, _: &str, _: &CancellationToken) -> Result<Value, Diagnostics> {
        Err(Diagnostics::single("Import not supported", "Notes live only in state."))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match tfplugin::serve("sample", Arc::new(Sample)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-sample: {e}");
            ExitCode::FAILURE
        }
    }
}
