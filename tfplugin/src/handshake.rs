//! The go-plugin handshake and AutoMTLS.
//!
//! Terraform starts the plugin with a magic cookie, the protocol versions it
//! speaks, and (AutoMTLS) its own client certificate in `PLUGIN_CLIENT_CERT`.
//! The plugin answers with one stdout line:
//! `1|6|<network>|<address>|grpc|<server cert, base64 DER without padding>`,
//! where network and address are `unix` and a socket path, or `tcp` and
//! `127.0.0.1:<port>` (see [`crate::transport`]).
//!
//! Terraform's client certificate is a self-signed ECDSA P-521 certificate with
//! CA:TRUE. General-purpose verifiers reject it as an end-entity certificate,
//! and the only certificate that may connect is exactly that one, so it is
//! pinned: the TLS layer accepts that certificate and no other, and checks the
//! handshake signature against it.

use std::sync::Arc;

use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::transport::Address;

/// The value Terraform puts in `TF_PLUGIN_MAGIC_COOKIE`.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version, the first handshake field.
const CORE_PROTOCOL_VERSION: u32 = 1;
/// The plugin protocol this crate speaks.
pub const PROTOCOL_VERSION: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error(
        "this is a Terraform provider plugin and is not meant to be run by hand.\n\
         Terraform starts it when a configuration uses the provider; to try a local build, \
         point a dev_overrides block in your Terraform CLI configuration at its directory."
    )]
    NotLaunchedByTerraform,
    #[error(
        "Terraform offered plugin protocol versions {offered:?}, but this provider speaks only version {PROTOCOL_VERSION}; use Terraform 1.0 or later"
    )]
    NoCommonProtocol { offered: String },
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    BadClientCertificate(String),
    #[error("could not create the plugin's TLS certificate: {0}")]
    Certificate(String),
    #[error("TLS setup failed: {0}")]
    Tls(#[from] rustls::Error),
}

/// What the environment says about how Terraform wants to talk.
#[derive(Debug)]
pub struct Launch {
    /// Terraform's client certificate, when it asked for AutoMTLS.
    pub client_certificate: Option<CertificateDer<'static>>,
}

impl Launch {
    /// Reads and checks the variables Terraform sets when it starts a plugin.
    pub fn from_env() -> Result<Launch, HandshakeError> {
        Launch::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Launch, HandshakeError> {
        if var(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
            return Err(HandshakeError::NotLaunchedByTerraform);
        }
        // Without the variable go-plugin assumes the plugin's single version.
        if let Some(offered) = var("PLUGIN_PROTOCOL_VERSIONS") {
            let speaks = offered.split(',').any(|v| v.trim() == PROTOCOL_VERSION.to_string());
            if !speaks {
                return Err(HandshakeError::NoCommonProtocol { offered });
            }
        }
        let client_certificate = match var("PLUGIN_CLIENT_CERT").filter(|pem| !pem.trim().is_empty()) {
            Some(pem) => Some(
                CertificateDer::from_pem_slice(pem.as_bytes())
                    .map_err(|e| HandshakeError::BadClientCertificate(e.to_string()))?,
            ),
            None => None,
        };
        Ok(Launch { client_certificate })
    }
}

/// The crypto provider used for every TLS operation in the process.
pub fn crypto() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The plugin's own certificate, made fresh for each run.
pub struct ServerIdentity {
    pub certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl ServerIdentity {
    /// A self-signed certificate for `localhost` that serves as its own CA,
    /// since Terraform trusts exactly the certificate in the handshake line.
    pub fn generate() -> Result<ServerIdentity, HandshakeError> {
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
        let fail = |e: rcgen::Error| HandshakeError::Certificate(e.to_string());
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).map_err(fail)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment, KeyUsagePurpose::KeyCertSign];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        // Long applies must not outlive the certificate.
        params.not_after = now + time::Duration::days(30);
        let certificate = params.self_signed(&key).map_err(fail)?;
        Ok(ServerIdentity {
            certificate: certificate.der().clone(),
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        })
    }

    /// A TLS server configuration that admits only `client` and speaks HTTP/2.
    pub fn tls_config(&self, client: CertificateDer<'static>) -> Result<rustls::ServerConfig, HandshakeError> {
        let crypto = crypto();
        let verifier =
            Arc::new(PinnedClient { certificate: client, algorithms: crypto.signature_verification_algorithms });
        let mut config = rustls::ServerConfig::builder_with_provider(crypto)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.certificate.clone()], self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

/// The line go-plugin reads from the plugin's stdout.
pub fn handshake_line(address: &Address, server_certificate: Option<&CertificateDer<'_>>) -> String {
    let certificate = server_certificate
        .map(|c| base64::engine::general_purpose::STANDARD_NO_PAD.encode(c.as_ref()))
        .unwrap_or_default();
    let network = address.network();
    format!("{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|{network}|{address}|grpc|{certificate}")
}

/// Accepts exactly one client certificate, byte for byte.
#[derive(Debug)]
struct PinnedClient {
    certificate: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClient {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn refuses_to_run_without_the_cookie() {
        let err = Launch::from_vars(vars(&[])).unwrap_err();
        assert!(matches!(err, HandshakeError::NotLaunchedByTerraform));
        assert!(err.to_string().contains("not meant to be run by hand"));
    }

    #[test]
    fn negotiates_protocol_six() {
        let ok =
            Launch::from_vars(vars(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_PROTOCOL_VERSIONS", "5,6")]));
        assert!(ok.unwrap().client_certificate.is_none());
        let err =
            Launch::from_vars(vars(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_PROTOCOL_VERSIONS", "4,5")]));
        assert!(matches!(err, Err(HandshakeError::NoCommonProtocol { .. })));
    }

    #[test]
    fn rejects_a_malformed_client_certificate() {
        let err = Launch::from_vars(vars(&[(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE), ("PLUGIN_CLIENT_CERT", "garbage")]));
        assert!(matches!(err, Err(HandshakeError::BadClientCertificate(_))));
    }

    #[test]
    fn handshake_line_has_six_fields_and_unpadded_certificate() {
        let identity = ServerIdentity::generate().unwrap();
        let line = handshake_line(&Address::Unix("/tmp/plugin1".into()), Some(&identity.certificate));
        let fields: Vec<_> = line.split('|').collect();
        assert_eq!(&fields[..5], ["1", "6", "unix", "/tmp/plugin1", "grpc"]);
        assert!(!fields[5].ends_with('='));
        let der = base64::engine::general_purpose::STANDARD_NO_PAD.decode(fields[5]).unwrap();
        assert_eq!(der, identity.certificate.as_ref());

        let tcp = handshake_line(&Address::Tcp(([127, 0, 0, 1], 10_002).into()), None);
        assert_eq!(tcp, "1|6|tcp|127.0.0.1:10002|grpc|");
    }
}
