//! The provider binary as a plugin process, driven the way go-plugin drives
//! it: environment, handshake line, mutual TLS over a unix socket, signals.
//! The client certificate is made like Terraform's (self-signed ECDSA P-521
//! with CA:TRUE), and the server certificate is pinned from the handshake.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tfplugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use tfplugin::wire::{plugin, tfplugin6};

const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-progressive");

/// A client identity like the one Terraform makes for each plugin.
struct ClientIdentity {
    pem: String,
    der: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn client_identity() -> ClientIdentity {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    ClientIdentity {
        pem: cert.pem(),
        der: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    }
}

/// The plugin process, killed when the test ends however it ends.
struct Plugin {
    child: Child,
    socket: String,
    server_cert: CertificateDer<'static>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn launch(client: &ClientIdentity) -> Plugin {
    let mut child = Command::new(BINARY)
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", &client.pem)
        .env("TF_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the provider binary");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let fields: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(&fields[..3], ["1", "6", "unix"], "handshake line: {line}");
    assert_eq!(fields[4], "grpc");
    let der = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("certificate field");
    Plugin { socket: fields[3].to_owned(), server_cert: CertificateDer::from(der), child }
}

/// Trusts exactly the certificate from the handshake, as go-plugin does.
#[derive(Debug)]
struct PinnedServer(CertificateDer<'static>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("not the handshake certificate".into()))
        }
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, &algs)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// Opens a gRPC channel to the plugin, presenting `identity` (or no client
/// certificate at all).
async fn connect(plugin: &Plugin, identity: Option<&ClientIdentity>) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(plugin.server_cert.clone())));
    let mut config = match identity {
        Some(id) => builder.with_client_auth_cert(vec![id.der.clone()], id.key.clone_key()).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let socket = plugin.socket.clone();
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, socket) = (connector.clone(), socket.clone());
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                let tls = connector.connect(ServerName::try_from("localhost").unwrap(), stream).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
}

async fn schema_call(channel: tonic::transport::Channel) -> Result<tfplugin6::get_provider_schema::Response, tonic::Status> {
    let mut client = tfplugin6::provider_client::ProviderClient::new(channel);
    client.get_provider_schema(tfplugin6::get_provider_schema::Request::default()).await.map(|r| r.into_inner())
}

#[tokio::test]
async fn serves_the_schema_over_mutual_tls() {
    let identity = client_identity();
    let plugin = launch(&identity);
    let schema = schema_call(connect(&plugin, Some(&identity)).await.unwrap()).await.unwrap();
    assert!(schema.resource_schemas.contains_key("progressive_canary_gate"));
    assert!(schema.provider.is_some());
    assert!(schema.diagnostics.is_empty());
}

#[tokio::test]
async fn refuses_clients_without_terraforms_certificate() {
    let identity = client_identity();
    let plugin = launch(&identity);
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
    let mut plugin = launch(&identity);
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
