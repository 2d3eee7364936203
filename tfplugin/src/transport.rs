//! Where the plugin listens: a Unix socket (the default on Unix) or a TCP
//! port on 127.0.0.1 (the default elsewhere, and on request anywhere).
//!
//! go-plugin's TCP convention: the client passes the port range it accepts in
//! `PLUGIN_MIN_PORT` / `PLUGIN_MAX_PORT`, the plugin takes the first free
//! port of that range on 127.0.0.1 and names it in the handshake line as
//! `tcp|127.0.0.1:<port>`. Both transports carry the same mutual TLS.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// The variable that selects the transport at run time: `unix` or `tcp`.
pub const TRANSPORT_VAR: &str = "TF_PLUGIN_TRANSPORT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A Unix domain socket in go-plugin's socket directory.
    Unix,
    /// A TCP port on 127.0.0.1 within the client's port range.
    Tcp,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{TRANSPORT_VAR}={0:?} is not a transport; use \"unix\" or \"tcp\"")]
    UnknownTransport(String),
    #[error("Unix sockets are not available on this platform; use {TRANSPORT_VAR}=tcp")]
    UnixUnavailable,
    #[error("{name}={value:?} is not a port number (1-65535)")]
    BadPort { name: &'static str, value: String },
    #[error("PLUGIN_MIN_PORT ({min}) is greater than PLUGIN_MAX_PORT ({max})")]
    EmptyRange { min: u16, max: u16 },
    #[error(
        "no free port on 127.0.0.1 in {min}-{max} (PLUGIN_MIN_PORT-PLUGIN_MAX_PORT); the last one failed with: {last}"
    )]
    RangeExhausted { min: u16, max: u16, last: std::io::Error },
}

impl Transport {
    /// The transport of this platform: Unix sockets where they exist.
    pub const PLATFORM_DEFAULT: Transport = if cfg!(unix) { Transport::Unix } else { Transport::Tcp };

    /// [`TRANSPORT_VAR`] if set, else [`Transport::PLATFORM_DEFAULT`].
    pub fn from_env() -> Result<Transport, TransportError> {
        Transport::from_setting(std::env::var(TRANSPORT_VAR).ok().as_deref())
    }

    fn from_setting(setting: Option<&str>) -> Result<Transport, TransportError> {
        match setting.map(str::trim) {
            None | Some("") => Ok(Transport::PLATFORM_DEFAULT),
            Some(s) if s.eq_ignore_ascii_case("tcp") => Ok(Transport::Tcp),
            Some(s) if s.eq_ignore_ascii_case("unix") => {
                if cfg!(unix) {
                    Ok(Transport::Unix)
                } else {
                    Err(TransportError::UnixUnavailable)
                }
            }
            Some(other) => Err(TransportError::UnknownTransport(other.to_owned())),
        }
    }
}

/// What the handshake line announces: network type and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Address {
    /// go-plugin's network type field.
    pub fn network(&self) -> &'static str {
        match self {
            Address::Unix(_) => "unix",
            Address::Tcp(_) => "tcp",
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "{}", path.display()),
            Address::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// The ports the client accepts. Neither variable set: the system picks a
/// free port (as go-plugin's own servers do with their 0-0 default). Only
/// one set: the other end is 1024 (the lowest unprivileged port) or 65535.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRange {
    AnyFree,
    Within(RangeInclusive<u16>),
}

impl PortRange {
    /// Reads `PLUGIN_MIN_PORT` and `PLUGIN_MAX_PORT` through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<PortRange, TransportError> {
        let port = |name: &'static str| -> Result<Option<u16>, TransportError> {
            match var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(value) => match value.parse::<u16>() {
                    Ok(port) if port > 0 => Ok(Some(port)),
                    _ => Err(TransportError::BadPort { name, value }),
                },
            }
        };
        let (min, max) = match (port("PLUGIN_MIN_PORT")?, port("PLUGIN_MAX_PORT")?) {
            (None, None) => return Ok(PortRange::AnyFree),
            (min, max) => (min.unwrap_or(1024), max.unwrap_or(u16::MAX)),
        };
        if min > max {
            return Err(TransportError::EmptyRange { min, max });
        }
        Ok(PortRange::Within(min..=max))
    }

    /// Binds the first free port of the range on 127.0.0.1, and never any
    /// other interface: only Terraform on this machine may connect (and then
    /// only with its certificate).
    pub fn bind(&self) -> Result<std::net::TcpListener, TransportError> {
        let loopback = |port| std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
        let ports = match self {
            PortRange::AnyFree => 0..=0,
            PortRange::Within(ports) => ports.clone(),
        };
        let (min, max) = (*ports.start(), *ports.end());
        let mut last = None;
        for port in ports {
            match loopback(port) {
                Ok(listener) => return Ok(listener),
                // In use, or reserved: the next one may do.
                Err(e) => last = Some(e),
            }
        }
        let last = last.unwrap_or_else(|| std::io::Error::other("the range is empty"));
        Err(TransportError::RangeExhausted { min, max, last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_transport_setting_is_unix_or_tcp() {
        assert_eq!(Transport::from_setting(None).unwrap(), Transport::PLATFORM_DEFAULT);
        assert_eq!(Transport::from_setting(Some(" ")).unwrap(), Transport::PLATFORM_DEFAULT);
        assert_eq!(Transport::from_setting(Some("TCP")).unwrap(), Transport::Tcp);
        #[cfg(unix)]
        assert_eq!(Transport::from_setting(Some("unix")).unwrap(), Transport::Unix);
        let err = Transport::from_setting(Some("pipe")).unwrap_err();
        assert_eq!(err.to_string(), "TF_PLUGIN_TRANSPORT=\"pipe\" is not a transport; use \"unix\" or \"tcp\"");
    }

    #[test]
    fn port_ranges_come_from_go_plugins_variables() {
        let range = |pairs: &[(&str, &str)]| PortRange::from_vars(vars(pairs));
        assert_eq!(range(&[]).unwrap(), PortRange::AnyFree);
        assert_eq!(
            range(&[("PLUGIN_MIN_PORT", "10000"), ("PLUGIN_MAX_PORT", "25000")]).unwrap(),
            PortRange::Within(10000..=25000)
        );
        assert_eq!(range(&[("PLUGIN_MIN_PORT", "20000")]).unwrap(), PortRange::Within(20000..=65535));
        assert_eq!(range(&[("PLUGIN_MAX_PORT", "2000")]).unwrap(), PortRange::Within(1024..=2000));
        assert_eq!(range(&[("PLUGIN_MIN_PORT", "7"), ("PLUGIN_MAX_PORT", "7")]).unwrap(), PortRange::Within(7..=7));

        let err = range(&[("PLUGIN_MIN_PORT", "20000"), ("PLUGIN_MAX_PORT", "10000")]).unwrap_err();
        assert_eq!(err.to_string(), "PLUGIN_MIN_PORT (20000) is greater than PLUGIN_MAX_PORT (10000)");
        for bad in ["0", "65536", "-1", "ten"] {
            let err = range(&[("PLUGIN_MIN_PORT", bad), ("PLUGIN_MAX_PORT", "10")]).unwrap_err();
            assert!(matches!(err, TransportError::BadPort { name: "PLUGIN_MIN_PORT", .. }), "{bad}: {err}");
        }
    }

    /// Two consecutive free ports, found by binding a pair.
    fn free_pair() -> (std::net::TcpListener, u16) {
        loop {
            let first = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let port = first.local_addr().unwrap().port();
            if port < u16::MAX && std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)).is_ok() {
                return (first, port);
            }
        }
    }

    #[test]
    fn a_port_in_use_is_skipped_for_the_next_one_on_loopback() {
        let (held, port) = free_pair();
        let listener = PortRange::Within(port..=port + 1).bind().unwrap();
        let bound = listener.local_addr().unwrap();
        assert_eq!(bound, SocketAddr::from((Ipv4Addr::LOCALHOST, port + 1)));
        drop(held);
    }

    #[test]
    fn a_range_without_a_free_port_is_an_error_naming_it() {
        let held = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = PortRange::Within(port..=port).bind().unwrap_err();
        assert!(matches!(err, TransportError::RangeExhausted { .. }), "{err}");
        assert!(err.to_string().starts_with(&format!("no free port on 127.0.0.1 in {port}-{port}")), "{err}");
    }

    #[test]
    fn any_free_port_is_a_loopback_port() {
        let listener = PortRange::AnyFree.bind().unwrap();
        let bound = listener.local_addr().unwrap();
        assert!(bound.ip().is_loopback() && bound.port() > 0, "{bound}");
    }
}
