//! The Terraform plugin protocol, version 6, as a library: the go-plugin
//! handshake with AutoMTLS, cty values and their msgpack/JSON encodings,
//! schemas, diagnostics, and a gRPC service that drives a [`Provider`].
//! Nothing here knows about any cloud or any particular provider.
//!
//! A provider implements [`Provider`] and one [`Resource`] per resource type
//! (type names start with the provider's name), and its `main` awaits
//! [`serve`] with that name, e.g. `tfplugin::serve("example", provider)`.
//!
//! * Transport ([`transport`]): a Unix socket on Unix, loopback TCP
//!   elsewhere; `TF_PLUGIN_TRANSPORT=tcp|unix` chooses at run time. TCP
//!   takes the first free port of go-plugin's `PLUGIN_MIN_PORT` to
//!   `PLUGIN_MAX_PORT` on 127.0.0.1. Both carry the same mutual TLS.
//! * Deprecations: [`Attribute::deprecated`] and [`Block::deprecated`] take
//!   the message Terraform (1.15, protocol 6.10) shows where a configuration
//!   references the value; validation warns where one sets it, and
//!   [`docs`] prints it.
//! * Logging ([`log`]): hclog JSON lines on stderr, which Terraform shows
//!   under `TF_LOG`.

pub mod diag;
pub mod docs;
pub mod handshake;
pub mod json;
pub mod log;
pub mod msgpack;
pub mod provider;
pub mod schema;
mod server;
mod service;
pub mod transport;
pub mod value;

pub use diag::{AttributePath, Diagnostics};
pub use provider::{Applied, ApplyRequest, PlanRequest, Planned, Provider, ReadRequest, Resource};
pub use schema::{Attribute, Block, Nesting, Schema};
pub use server::{ServeError, serve};
pub use value::{Number, Type, Value};

/// Generated protocol messages and service traits.
pub mod wire {
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
    pub mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}
