//! The provider binary as a plugin process, driven the way go-plugin drives
//! it (environment, handshake line, mutual TLS over a unix socket or loopback
//! TCP, whichever the handshake names), shared
//! by the integration tests that talk to it. The client certificate is made
//! like Terraform's (self-signed ECDSA P-521 with CA:TRUE), and the server
//! certificate is pinned from the handshake.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use base64::Engine;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tfplugin::handshake::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};

pub const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-progressive");

/// A client identity like the one Terraform makes for each plugin.
pub struct ClientIdentity {
    pub pem: String,
    pub der: CertificateDer<'static>,
    pub key: PrivateKeyDer<'static>,
}

pub fn client_identity() -> ClientIdentity {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    ClientIdentity { pem: cert.pem(), der: cert.der().clone(), key: PrivateKeyDer::Pkcs8(key.serialize_der().into()) }
}

/// The plugin process, killed when the test ends however it ends.
pub struct Plugin {
    pub child: Child,
    /// The handshake's network type, `unix` or `tcp`.
    pub network: String,
    /// The socket path, or `127.0.0.1:<port>`.
    pub address: String,
    pub server_cert: CertificateDer<'static>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the provider binary as Terraform would, with `env` added to the
/// environment, and reads its handshake line.
pub fn launch(client: &ClientIdentity, env: &[(&str, &str)]) -> Plugin {
    let mut child = Command::new(BINARY)
        .envs(env.iter().copied())
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
    assert_eq!(fields.len(), 6, "handshake line: {line}");
    assert_eq!(&fields[..2], ["1", "6"], "handshake line: {line}");
    assert_eq!(fields[4], "grpc");
    let der = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).expect("certificate field");
    Plugin {
        network: fields[2].to_owned(),
        address: fields[3].to_owned(),
        server_cert: CertificateDer::from(der),
        child,
    }
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
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, &algs)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

/// Opens a gRPC channel to the plugin, presenting `identity` (or no client
/// certificate at all).
pub async fn connect(
    plugin: &Plugin,
    identity: Option<&ClientIdentity>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
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
    let (network, address) = (plugin.network.clone(), plugin.address.clone());
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let (connector, network, address) = (connector.clone(), network.clone(), address.clone());
            async move {
                let stream: Box<dyn Stream> = match network.as_str() {
                    "unix" => Box::new(tokio::net::UnixStream::connect(address).await?),
                    "tcp" => Box::new(tokio::net::TcpStream::connect(address).await?),
                    other => panic!("handshake network {other:?}"),
                };
                let tls = connector.connect(ServerName::try_from("localhost").unwrap(), stream).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        }))
        .await
}

/// A connection to the plugin, over either network.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}
