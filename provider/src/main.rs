use std::process::ExitCode;
use std::sync::Arc;

use terraform_provider_progressive::{PROVIDER_NAME, ProgressiveProvider};

#[tokio::main]
async fn main() -> ExitCode {
    match tfplugin::serve(PROVIDER_NAME, Arc::new(ProgressiveProvider::default())).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-progressive: {e}");
            ExitCode::FAILURE
        }
    }
}
