//! The provider binary as a plugin process, driven the way go-plugin drives
//! it: environment, handshake line, mutual TLS over a unix socket, signals.
//! (The process, its certificates and the client: `harness`.)

use std::process::Command;
use std::time::{Duration, Instant};

use tfplugin::wire::{plugin, tfplugin6};

mod harness;

use harness::{BINARY, client_identity, connect, launch};
use tfplugin::handshake::MAGIC_COOKIE_KEY;

async fn schema_call(
    channel: tonic::transport::Channel,
) -> Result<tfplugin6::get_provider_schema::Response, tonic::Status> {
    let mut client = tfplugin6::provider_client::ProviderClient::new(channel);
    client.get_provider_schema(tfplugin6::get_provider_schema::Request::default()).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn serves_the_schema_over_mutual_tls() {
    let identity = client_identity();
    let plugin = launch(&identity, &[]);
    let schema = schema_call(connect(&plugin, Some(&identity)).await.unwrap()).await.unwrap();
    assert!(schema.resource_schemas.contains_key("progressive_canary_gate"));
    assert!(schema.provider.is_some());
    assert!(schema.diagnostics.is_empty());
}

#[tokio::test]
async fn refuses_clients_without_terraforms_certificate() {
    let identity = client_identity();
    let plugin = launch(&identity, &[]);
    let stranger = client_identity();
    for (who, id) in [("another certificate", Some(&stranger)), ("no certificate", None)] {
        let refused = match connect(&plugin, id).await {
            Err(_) => true,
            Ok(channel) => schema_call(channel).await.is_err(),
        };
        assert!(refused, "a client with {who} was served");
    }
    // Terraform's own certificate still works afterwards.
    assert!(schema_call(connect(&plugin, Some(&identity)).await.unwrap()).await.is_ok());
}

#[tokio::test]
async fn ignores_sigint_and_exits_on_shutdown() {
    let identity = client_identity();
    let mut plugin = launch(&identity, &[]);
    let channel = connect(&plugin, Some(&identity)).await.unwrap();
    let pid = plugin.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(plugin.child.try_wait().unwrap().is_none(), "SIGINT killed the provider");
    assert!(schema_call(channel.clone()).await.is_ok(), "still serving after SIGINT");

    let mut controller = plugin::grpc_controller_client::GrpcControllerClient::new(channel);
    controller.shutdown(plugin::Empty {}).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = plugin.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "provider still running 10s after Shutdown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(!std::path::Path::new(&plugin.socket).exists(), "socket file left behind");
}

#[test]
fn explains_itself_when_run_by_hand() {
    let out = Command::new(BINARY).env_remove(MAGIC_COOKIE_KEY).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not meant to be run by hand"), "{stderr}");
    assert!(out.stdout.is_empty(), "no handshake line without the cookie");
}
