//! Runs a provider as a Terraform plugin process: handshake, listener (Unix
//! socket or loopback TCP, see [`crate::transport`]), TLS, the gRPC services,
//! and the signals Terraform's process handling expects.
//!
//! * SIGINT is ignored: on Ctrl-C the whole process group gets it, and
//!   Terraform follows up with StopProvider, which cancels running operations
//!   so they can leave AWS and state consistent. Dying on SIGINT would lose
//!   that state.
//! * GRPCController.Shutdown (and SIGTERM) end the process.

#[cfg(unix)]
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, Router};
use tonic::{Request, Response, Status, Streaming};

use crate::handshake::{self, HandshakeError, Launch, ServerIdentity};
use crate::log;
use crate::provider::Provider;
use crate::service::{ProviderService, Running};
use crate::transport::{Address, PortRange, Transport, TransportError};
use crate::wire::{health, plugin, tfplugin6};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("could not listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("could not write the handshake to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("gRPC server failed: {0}")]
    Grpc(#[from] tonic::transport::Error),
}

/// How long in-flight calls may finish after Shutdown before the process exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a connection may take to complete its TLS handshake. Terraform
/// completes it in milliseconds; a peer that stalls is dropped, so it holds
/// neither a task nor a socket for the life of the process.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `provider` until Terraform shuts it down.
///
/// `name` is the provider's name as configurations write it (the `example`
/// of resource types `example_*`); it names the plugin's socket file and
/// appears in its log. The transport is [`Transport::from_env`]: a Unix
/// socket where there are Unix sockets, else loopback TCP, or whichever
/// `TF_PLUGIN_TRANSPORT` names.
pub async fn serve(name: &str, provider: Arc<dyn Provider>) -> Result<(), ServeError> {
    let launch = Launch::from_env()?;
    let transport = Transport::from_env()?;
    // One crypto provider for the whole process; a second one would make
    // rustls refuse to pick a default.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let stop = CancellationToken::new();
    let shutdown = CancellationToken::new();
    let running = Running::default();
    watch_signals(stop.clone(), shutdown.clone(), running.clone());
    let router = routes(provider, stop, running, shutdown.clone());

    let served = match transport {
        #[cfg(unix)]
        Transport::Unix => {
            let socket = SocketPath::create(name);
            let listener = UnixListener::bind(&socket.0)
                .map_err(|source| ServeError::Listen { address: socket.0.display().to_string(), source })?;
            let address = Address::Unix(socket.0.clone());
            serve_on(name, listener, address, launch.client_certificate, router, shutdown).await
        }
        #[cfg(not(unix))]
        Transport::Unix => Err(TransportError::UnixUnavailable.into()),
        Transport::Tcp => {
            let range = PortRange::from_vars(|name| std::env::var(name).ok())?;
            let listen_error = |source| ServeError::Listen { address: "127.0.0.1".into(), source };
            let listener = range.bind()?;
            listener.set_nonblocking(true).map_err(listen_error)?;
            let listener = TcpListener::from_std(listener).map_err(listen_error)?;
            let address = Address::Tcp(listener.local_addr().map_err(listen_error)?);
            serve_on(name, listener, address, launch.client_certificate, router, shutdown).await
        }
    };
    log::debug("tfplugin", "provider process exiting", &[]);
    served
}

/// Announces `address` and serves on `listener`, with mutual TLS when
/// Terraform sent its certificate (AutoMTLS), the same on every transport.
async fn serve_on<L: Listener>(
    name: &str,
    listener: L,
    address: Address,
    client_certificate: Option<rustls::pki_types::CertificateDer<'static>>,
    router: Router,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    log::debug(
        "tfplugin",
        "listening",
        &[("provider", name.into()), ("network", address.network().into()), ("address", address.to_string().into())],
    );
    match client_certificate {
        Some(client) => {
            let identity = ServerIdentity::generate()?;
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(identity.tls_config(client)?));
            announce(&address, Some(&identity.certificate))?;
            let incoming = accept_loop(listener, shutdown.clone(), HANDSHAKE_TIMEOUT, move |stream| {
                let acceptor = acceptor.clone();
                async move { acceptor.accept(stream).await }
            });
            serve_until(router, incoming, shutdown).await
        }
        // Terraform runs plugins without TLS only when told to (TF_DISABLE_PLUGIN_TLS).
        None => {
            if matches!(address, Address::Tcp(_)) {
                // A Unix socket has file permissions; a port does not.
                log::warn(
                    "tfplugin",
                    "serving over TCP without TLS: any local user can connect to this port and call the provider",
                    &[],
                );
            }
            announce(&address, None)?;
            let incoming =
                accept_loop(listener, shutdown.clone(), HANDSHAKE_TIMEOUT, |stream| async move { Ok(stream) });
            serve_until(router, incoming, shutdown).await
        }
    }
}

/// A listening socket the accept loop can take connections from.
trait Listener: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static;
    fn accept(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

#[cfg(unix)]
impl Listener for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept(&self) -> std::io::Result<Self::Stream> {
        UnixListener::accept(self).await.map(|(stream, _)| stream)
    }
}

impl Listener for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept(&self) -> std::io::Result<Self::Stream> {
        let (stream, _) = TcpListener::accept(self).await?;
        // gRPC's small frames should not wait for Nagle's algorithm; a
        // connection that refuses the option still works, only slower.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

fn routes(
    provider: Arc<dyn Provider>,
    stop: CancellationToken,
    running: Running,
    shutdown: CancellationToken,
) -> Router {
    tonic::transport::Server::builder()
        .add_service(
            tfplugin6::provider_server::ProviderServer::new(ProviderService::new(provider, stop, running))
                // Large plans (many resources in one state) exceed the 4 MiB default.
                .max_decoding_message_size(256 << 20)
                .max_encoding_message_size(256 << 20),
        )
        .add_service(plugin::grpc_controller_server::GrpcControllerServer::new(Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(plugin::grpc_stdio_server::GrpcStdioServer::new(Stdio))
        .add_service(plugin::grpc_broker_server::GrpcBrokerServer::new(Broker { shutdown }))
        .add_service(health::health_server::HealthServer::new(Health))
}

fn announce(address: &Address, certificate: Option<&rustls::pki_types::CertificateDer<'_>>) -> Result<(), ServeError> {
    use std::io::Write;
    let line = handshake::handshake_line(address, certificate);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(ServeError::Stdout)
}

async fn serve_until<IO>(
    router: Router,
    incoming: ReceiverStream<Result<IO, std::io::Error>>,
    shutdown: CancellationToken,
) -> Result<(), ServeError>
where
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let grace = shutdown.clone();
    let server = router.serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned());
    tokio::select! {
        result = server => result.map_err(ServeError::from),
        // Streams the client never closes must not keep the process alive.
        () = async { grace.cancelled().await; tokio::time::sleep(SHUTDOWN_GRACE).await } => Ok(()),
    }
}

/// Accepts connections and runs `secure` on each in its own task, so a client
/// that stalls its TLS handshake holds up no one, and drops it after
/// `handshake_timeout`. Failed handshakes (a client without Terraform's
/// certificate) are logged and dropped.
fn accept_loop<L, IO, F, Fut>(
    listener: L,
    shutdown: CancellationToken,
    handshake_timeout: Duration,
    secure: F,
) -> ReceiverStream<Result<IO, std::io::Error>>
where
    L: Listener,
    IO: Send + 'static,
    F: Fn(L::Stream) -> Fut + Send + 'static,
    Fut: Future<Output = std::io::Result<IO>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(stream) => stream,
                    Err(e) => {
                        log::warn("tfplugin", "accept failed", &[("error", e.to_string().into())]);
                        continue;
                    }
                },
            };
            let tx = tx.clone();
            let secured = secure(stream);
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, secured).await {
                    Ok(Ok(io)) => {
                        let _ = tx.send(Ok(io)).await;
                    }
                    Ok(Err(e)) => log::warn(
                        "tfplugin",
                        "refused a connection that failed the TLS handshake",
                        &[("error", e.to_string().into())],
                    ),
                    Err(_) => log::warn(
                        "tfplugin",
                        "dropped a connection that did not complete the TLS handshake in time",
                        &[("timeout", format!("{handshake_timeout:?}").into())],
                    ),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(unix)]
fn watch_signals(stop: CancellationToken, shutdown: CancellationToken, running: Running) {
    use tokio::signal::unix::{SignalKind, signal};
    // Registering a handler replaces the default action (terminate) for good.
    match signal(SignalKind::interrupt()) {
        Ok(mut interrupts) => {
            tokio::spawn(async move {
                while interrupts.recv().await.is_some() {
                    log::debug(
                        "tfplugin",
                        "ignoring SIGINT; Terraform sends StopProvider to stop running operations",
                        &[],
                    );
                }
            });
        }
        Err(e) => log::warn("tfplugin", "could not install a SIGINT handler", &[("error", e.to_string().into())]),
    }
    if let Ok(mut terms) = signal(SignalKind::terminate()) {
        tokio::spawn(async move {
            if terms.recv().await.is_some() {
                // A cancelled CI job signals Terraform and the provider at
                // once. Stopped operations may still be rolling back: the
                // process ends once they have returned, not before.
                log::info("tfplugin", "SIGTERM: stopping operations; exiting once they have ended", &[]);
                stop.cancel();
                running.idle().await;
                log::info("tfplugin", "SIGTERM: operations ended; exiting", &[]);
                shutdown.cancel();
            }
        });
    }
}

/// Without Unix signals, Ctrl-C reaches the plugin as a console event; it is
/// ignored for the same reason as SIGINT, and Shutdown ends the process.
#[cfg(not(unix))]
fn watch_signals(_stop: CancellationToken, _shutdown: CancellationToken, _running: Running) {
    tokio::spawn(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            log::debug("tfplugin", "ignoring Ctrl-C; Terraform sends StopProvider to stop running operations", &[]);
        }
    });
}

/// A socket path in go-plugin's directory (or the temp dir), removed on drop.
#[cfg(unix)]
struct SocketPath(PathBuf);

#[cfg(unix)]
impl SocketPath {
    /// `plugin-<provider name>-<pid>-<nanoseconds>`: unique per process, and
    /// telling which provider it belongs to.
    fn create(provider_name: &str) -> SocketPath {
        let dir = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let path = dir.join(format!("plugin-{provider_name}-{}-{nanos:08x}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

#[cfg(unix)]
impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Controller {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl plugin::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<plugin::Empty>) -> Result<Response<plugin::Empty>, Status> {
        log::debug("tfplugin", "Terraform requested shutdown", &[]);
        self.shutdown.cancel();
        Ok(Response::new(plugin::Empty {}))
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// go-plugin can relay a plugin's stdout/stderr over gRPC; this provider logs
/// straight to stderr, so the stream ends at once (the client treats the end
/// of the stream as "nothing to relay").
struct Stdio;

#[tonic::async_trait]
impl plugin::grpc_stdio_server::GrpcStdio for Stdio {
    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<BoxStream<plugin::StdioData>>, Status> {
        Ok(Response::new(Box::pin(tokio_stream::empty())))
    }
}

/// The broker lets plugins open extra connections; Terraform providers never
/// need one, so the stream stays open and silent until either side ends it.
struct Broker {
    shutdown: CancellationToken,
}

#[tonic::async_trait]
impl plugin::grpc_broker_server::GrpcBroker for Broker {
    async fn start_stream(
        &self,
        request: Request<Streaming<plugin::ConnInfo>>,
    ) -> Result<Response<BoxStream<plugin::ConnInfo>>, Status> {
        let mut inbound = request.into_inner();
        let shutdown = self.shutdown.clone();
        let drained = async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = async { while let Some(Ok(_)) = inbound.next().await {} } => {}
            }
        };
        Ok(Response::new(Box::pin(futures_util::stream::once(drained).filter_map(|()| async { None }))))
    }
}

struct Health;

#[tonic::async_trait]
impl health::health_server::Health for Health {
    async fn check(
        &self,
        _: Request<health::HealthCheckRequest>,
    ) -> Result<Response<health::HealthCheckResponse>, Status> {
        Ok(Response::new(health::HealthCheckResponse {
            status: health::health_check_response::ServingStatus::Serving as i32,
        }))
    }

    async fn watch(
        &self,
        _: Request<health::HealthCheckRequest>,
    ) -> Result<Response<BoxStream<health::HealthCheckResponse>>, Status> {
        let serving =
            health::HealthCheckResponse { status: health::health_check_response::ServingStatus::Serving as i32 };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(serving)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Connects to `listener` through `connect` while every TLS handshake
    /// stalls, and checks that the server closes the connection after the
    /// handshake timeout, not before.
    async fn a_stalled_handshake_is_dropped<L, C>(listener: L, connect: impl Future<Output = C>)
    where
        L: Listener,
        C: AsyncRead + Unpin,
    {
        let shutdown = CancellationToken::new();
        let _incoming =
            accept_loop(listener, shutdown.clone(), Duration::from_millis(200), |stream: L::Stream| async move {
                let _held = stream;
                std::future::pending::<std::io::Result<L::Stream>>().await
            });
        let mut client = connect.await;
        let started = std::time::Instant::now();
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0))), "the server closes the connection: {read:?}");
        assert!(started.elapsed() >= Duration::from_millis(150), "not before the timeout: {:?}", started.elapsed());
        shutdown.cancel();
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_stalled_handshake_on_a_unix_socket_is_dropped_after_the_timeout() {
        let dir = std::env::temp_dir().join(format!("tfplugin-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stall.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        a_stalled_handshake_is_dropped(listener, async { tokio::net::UnixStream::connect(&path).await.unwrap() }).await;
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn a_stalled_handshake_over_tcp_is_dropped_after_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        a_stalled_handshake_is_dropped(listener, async { tokio::net::TcpStream::connect(address).await.unwrap() })
            .await;
    }
}
