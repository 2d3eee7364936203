//! The Terraform plugin protocol, version 6, as a library: the go-plugin
//! handshake with AutoMTLS, cty values and their msgpack/JSON encodings,
//! schemas, diagnostics, and a gRPC service that drives a [`Provider`].
//! Nothing here knows about any cloud.

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
