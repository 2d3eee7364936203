//! The provider binary as a plugin process, driven the way go-plugin drives
//! it: environment, handshake line, mutual TLS over a unix socket or
//! loopback TCP, signals.
//! (The process, its certificates and the client: `harness`.)

use std::net::{Ipv4Addr, TcpListener};
use std::process::Command;
use std::time::{Duration, Instant};

use tfplugin::wire::{plugin, tfplugin6};

mod harness;

use harness::{BINARY, client_identity, connect, launch};
use tfplugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

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
    assert_eq!(plugin.network, "unix", "a Unix socket by default on Unix");
    serves_only(&plugin, &identity).await;
}

/// Checks that `plugin` serves `identity` and no one else.
async fn serves_only(plugin: &harness::Plugin, identity: &harness::ClientIdentity) {
    let stranger = client_identity();
    for (who, id) in [("another certificate", Some(&stranger)), ("no certificate", None)] {
        let refused = match connect(plugin, id).await {
            Err(_) => true,
            Ok(channel) => schema_call(channel).await.is_err(),
        };
        assert!(refused, "a client with {who} was served");
    }
    // Terraform's own certificate still works afterwards.
    assert!(schema_call(connect(plugin, Some(identity)).await.unwrap()).await.is_ok());
}

/// Two consecutive free loopback ports; the first one stays taken.
fn held_port_and_the_next() -> (TcpListener, u16) {
    loop {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        if port < u16::MAX && TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
            return (held, port);
        }
    }
}

#[tokio::test]
async fn over_tcp_listens_on_loopback_past_a_taken_port_with_the_same_mutual_tls() {
    let (_held, taken) = held_port_and_the_next();
    let identity = client_identity();
    let (min, max) = (taken.to_string(), (taken + 1).to_string());
    let env = [("TF_PLUGIN_TRANSPORT", "tcp"), ("PLUGIN_MIN_PORT", min.as_str()), ("PLUGIN_MAX_PORT", max.as_str())];
    let plugin = launch(&identity, &env);
    assert_eq!((plugin.network.as_str(), plugin.address.as_str()), ("tcp", format!("127.0.0.1:{max}").as_str()));
    serves_only(&plugin, &identity).await;
}

#[test]
fn a_bad_transport_setting_or_a_full_port_range_is_a_clear_error() {
    let (_held, taken) = held_port_and_the_next();
    let port = taken.to_string();
    let cases = [
        (vec![("TF_PLUGIN_TRANSPORT", "pipe")], "TF_PLUGIN_TRANSPORT=\"pipe\" is not a transport".to_owned()),
        (
            vec![("TF_PLUGIN_TRANSPORT", "tcp"), ("PLUGIN_MIN_PORT", &port), ("PLUGIN_MAX_PORT", &port)],
            format!("no free port on 127.0.0.1 in {taken}-{taken}"),
        ),
        (
            vec![("TF_PLUGIN_TRANSPORT", "tcp"), ("PLUGIN_MIN_PORT", "9"), ("PLUGIN_MAX_PORT", "8")],
            "PLUGIN_MIN_PORT (9) is greater than PLUGIN_MAX_PORT (8)".to_owned(),
        ),
    ];
    let identity = client_identity();
    for (env, expected) in cases {
        let out = Command::new(BINARY)
            .envs(env.iter().copied())
            .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
            .env("PLUGIN_CLIENT_CERT", &identity.pem)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{env:?}: {stderr}");
        assert!(stderr.contains(&expected), "{env:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{env:?}: no handshake line");
    }
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
    assert!(!std::path::Path::new(&plugin.address).exists(), "socket file left behind");
}

#[test]
fn explains_itself_when_run_by_hand() {
    let out = Command::new(BINARY).env_remove(MAGIC_COOKIE_KEY).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not meant to be run by hand"), "{stderr}");
    assert!(out.stdout.is_empty(), "no handshake line without the cookie");
}
