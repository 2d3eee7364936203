use std::process::ExitCode;
use std::sync::Arc;

use terraform_provider_progressive::ProgressiveProvider;

#[tokio::main]
async fn main() -> ExitCode {
    match tfplugin::serve(Arc::new(ProgressiveProvider::default())).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terraform-provider-progressive: {e}");
            ExitCode::FAILURE
        }
    }
}
