//! The `tfplugin6.Provider` gRPC service: decodes requests against schemas,
//! calls the provider's resources, and encodes what they return.
//!
//! Every answer is well-formed: problems become diagnostics, a panic inside
//! resource code becomes an error diagnostic, and RPCs for features this
//! provider does not offer (data sources, functions, moves) say so plainly.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::diag::{AttributePath, Diagnostics, PathStep, Severity};
use crate::provider::{ApplyRequest, PlanRequest, Provider, ReadRequest, Resource};
use crate::schema::{self, Nesting, Presence, Schema};
use crate::value::{Type, Value};
use crate::wire::tfplugin6 as pb;
use crate::{json, log, msgpack};

/// A resource type with its schema computed once.
struct Registered {
    resource: Arc<dyn Resource>,
    schema: Schema,
    ty: Type,
}

pub struct ProviderService {
    provider: Arc<dyn Provider>,
    provider_schema: Schema,
    resources: HashMap<&'static str, Registered>,
    /// Cancelled by StopProvider; every running operation watches it.
    stop: CancellationToken,
    running: Running,
}

/// How many operations of the provider's code are under way. A SIGTERM stops
/// them and waits for this to reach zero before the process exits: a stopped
/// operation may still be undoing what it did (a rollback), and cutting it
/// short would leave that half done.
#[derive(Clone)]
pub(crate) struct Running(Arc<watch::Sender<usize>>);

impl Default for Running {
    fn default() -> Running {
        Running(Arc::new(watch::Sender::new(0)))
    }
}

impl Running {
    async fn count<T>(&self, operation: impl Future<Output = T>) -> T {
        self.0.send_modify(|n| *n += 1);
        // Counted down however the operation ends: finished, failed or dropped.
        let _ended = Ended(&self.0);
        operation.await
    }

    /// Returns once no operation is under way.
    pub(crate) async fn idle(&self) {
        let _ = self.0.subscribe().wait_for(|n| *n == 0).await;
    }
}

struct Ended<'a>(&'a watch::Sender<usize>);

impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl ProviderService {
    pub fn new(provider: Arc<dyn Provider>, stop: CancellationToken, running: Running) -> ProviderService {
        let resources = provider
            .resources()
            .into_iter()
            .map(|resource| {
                let schema = resource.schema();
                let ty = schema.ty();
                (resource.type_name(), Registered { resource, schema, ty })
            })
            .collect();
        ProviderService { provider_schema: provider.schema(), provider, resources, stop, running }
    }

    fn resource(&self, type_name: &str) -> Result<&Registered, Diagnostics> {
        self.resources.get(type_name).ok_or_else(|| {
            Diagnostics::single("Unknown resource type", format!("This provider has no resource type {type_name:?}."))
        })
    }

    fn capabilities() -> pb::ServerCapabilities {
        pb::ServerCapabilities {
            plan_destroy: false,
            get_provider_schema_optional: false,
            move_resource_state: false,
            ..Default::default()
        }
    }
}

/// Runs resource code, counted in `running`, turning a panic into an error
/// diagnostic so that one bad input cannot take the whole provider (and every
/// other resource) down.
async fn guarded<T>(running: &Running, what: &str, future: impl Future<Output = T>) -> Result<T, Diagnostics> {
    running.count(AssertUnwindSafe(future).catch_unwind()).await.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "unknown panic".into());
        log::error(
            "tfplugin",
            "provider code panicked",
            &[("operation", what.into()), ("panic", message.clone().into())],
        );
        Diagnostics::single(
            "Provider internal error",
            format!("The provider failed during {what}: {message}. This is a bug in the provider; please report it."),
        )
    })
}

fn decode(value: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let Some(value) = value else { return Ok(Value::Null) };
    let decoded = if !value.msgpack.is_empty() {
        msgpack::decode(&value.msgpack, ty).map_err(|e| e.to_string())
    } else if !value.json.is_empty() {
        json::decode(&value.json, ty).map_err(|e| e.to_string())
    } else {
        Ok(Value::Null)
    };
    decoded.map_err(|e| Diagnostics::single("Malformed value from Terraform", e))
}

fn encode(value: &Value, ty: &Type) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue { msgpack: msgpack::encode(value, ty), json: Vec::new() })
}

fn diagnostics(d: Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.into_iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error,
                Severity::Warning => pb::diagnostic::Severity::Warning,
            } as i32,
            summary: d.summary,
            detail: d.detail,
            attribute: d.attribute.map(attribute_path),
        })
        .collect()
}

fn attribute_path(path: AttributePath) -> pb::AttributePath {
    use pb::attribute_path::{Step, step::Selector};
    let steps = path
        .0
        .into_iter()
        .map(|step| Step {
            selector: Some(match step {
                PathStep::Attribute(a) => Selector::AttributeName(a),
                PathStep::Key(k) => Selector::ElementKeyString(k),
                PathStep::Index(i) => Selector::ElementKeyInt(i),
            }),
        })
        .collect();
    pb::AttributePath { steps }
}

fn wire_schema(schema: &Schema) -> pb::Schema {
    pb::Schema { version: schema.version, block: Some(wire_block(&schema.block)) }
}

fn wire_block(block: &schema::Block) -> pb::schema::Block {
    let markdown = pb::StringKind::Markdown as i32;
    let attributes = block
        .attributes
        .iter()
        .map(|a| pb::schema::Attribute {
            name: a.name.clone(),
            r#type: a.ty.to_json().to_string().into_bytes(),
            description: a.full_description(),
            required: a.presence == Presence::Required,
            optional: matches!(a.presence, Presence::Optional | Presence::OptionalComputed),
            computed: matches!(a.presence, Presence::Computed | Presence::OptionalComputed),
            sensitive: a.sensitive,
            description_kind: markdown,
            deprecated: a.deprecation.is_some(),
            deprecation_message: a.deprecation.clone().unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    let block_types = block
        .blocks
        .iter()
        .map(|b| pb::schema::NestedBlock {
            type_name: b.name.clone(),
            block: Some(wire_block(&b.block)),
            nesting: match b.nesting {
                Nesting::Single => pb::schema::nested_block::NestingMode::Single,
                Nesting::List => pb::schema::nested_block::NestingMode::List,
            } as i32,
            min_items: b.min_items,
            max_items: b.max_items,
        })
        .collect();
    pb::schema::Block {
        attributes,
        block_types,
        description: block.description.clone(),
        description_kind: markdown,
        deprecated: block.deprecation.is_some(),
        deprecation_message: block.deprecation.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn unsupported(what: &str) -> Vec<pb::Diagnostic> {
    diagnostics(Diagnostics::single("Not supported", format!("This provider offers no {what}.")))
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::provider_server::Provider for ProviderService {
    async fn get_metadata(&self, _: Request<pb::get_metadata::Request>) -> Rpc<pb::get_metadata::Response> {
        let resources = self
            .resources
            .keys()
            .map(|name| pb::get_metadata::ResourceMetadata { type_name: (*name).to_owned() })
            .collect();
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(Self::capabilities()),
            resources,
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<pb::get_provider_schema::Request>,
    ) -> Rpc<pb::get_provider_schema::Response> {
        let resource_schemas =
            self.resources.iter().map(|(name, r)| ((*name).to_owned(), wire_schema(&r.schema))).collect();
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(wire_schema(&self.provider_schema)),
            resource_schemas,
            server_capabilities: Some(Self::capabilities()),
            ..Default::default()
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<pb::get_resource_identity_schemas::Request>,
    ) -> Rpc<pb::get_resource_identity_schemas::Response> {
        // No resource declares an identity; an empty map says so.
        Ok(Response::new(pb::get_resource_identity_schemas::Response::default()))
    }

    async fn upgrade_resource_identity(
        &self,
        _: Request<pb::upgrade_resource_identity::Request>,
    ) -> Rpc<pb::upgrade_resource_identity::Response> {
        Ok(Response::new(pb::upgrade_resource_identity::Response {
            diagnostics: unsupported("resource identities"),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Rpc<pb::validate_provider_config::Response> {
        let request = request.into_inner();
        let d = match decode(request.config.as_ref(), &self.provider_schema.ty()) {
            Ok(config) => {
                let mut d = self.provider_schema.block.deprecated_uses(&config);
                d.extend(
                    guarded(&self.running, "provider validation", async { self.provider.validate(&config) })
                        .await
                        .unwrap_or_else(|d| d),
                );
                d
            }
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics: diagnostics(d) }))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Rpc<pb::configure_provider::Response> {
        let request = request.into_inner();
        let d = match decode(request.config.as_ref(), &self.provider_schema.ty()) {
            Ok(config) => guarded(&self.running, "provider configuration", self.provider.configure(&config))
                .await
                .unwrap_or_else(|d| d),
            Err(d) => d,
        };
        Ok(Response::new(pb::configure_provider::Response { diagnostics: diagnostics(d) }))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Rpc<pb::validate_resource_config::Response> {
        let request = request.into_inner();
        let d = (|| {
            let r = self.resource(&request.type_name)?;
            let config = decode(request.config.as_ref(), &r.ty)?;
            Ok::<_, Diagnostics>((r, config))
        })();
        let d = match d {
            Ok((r, config)) => {
                let mut d = r.schema.block.deprecated_uses(&config);
                d.extend(
                    guarded(&self.running, "validation", async { r.resource.validate(&config) })
                        .await
                        .unwrap_or_else(|d| d),
                );
                d
            }
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics: diagnostics(d) }))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Rpc<pb::upgrade_resource_state::Response> {
        let request = request.into_inner();
        let result = async {
            let r = self.resource(&request.type_name)?;
            if request.version > r.schema.version {
                return Err(Diagnostics::single(
                    "State from a newer provider",
                    format!(
                        "This {} was stored by a provider with schema version {}, newer than this provider's {}. Upgrade the provider.",
                        request.type_name, request.version, r.schema.version
                    ),
                ));
            }
            let raw = request.raw_state.unwrap_or_default();
            if raw.json.is_empty() {
                return Err(Diagnostics::single("Unsupported state", "The stored state has no JSON form (flatmap states predate this provider)."));
            }
            let unreadable = |e: String| Diagnostics::single("Stored state does not match the schema", e);
            let serde_json::Value::Object(mut stored) = serde_json::from_slice(&raw.json).map_err(|e| unreadable(e.to_string()))? else {
                return Err(unreadable("the stored state is not a JSON object".into()));
            };
            // The resource rewrites what its older versions stored; what the
            // schema no longer declares is dropped, and what was added since
            // is completed as a plan would have written it, so the next plan
            // shows no change.
            guarded(&self.running, "state upgrade", async { r.resource.upgrade_state(request.version, &mut stored) }).await??;
            let removed = r.schema.block.prune_undeclared(&mut stored);
            if !removed.is_empty() {
                log::debug("tfplugin", "dropped attributes the schema no longer declares from a stored state", &[("resource", request.type_name.clone().into()), ("attributes", removed.join(", ").into())]);
            }
            let mut state = json::from_value(&serde_json::Value::Object(stored), &r.ty).map_err(|e| unreadable(e.to_string()))?;
            r.schema.block.complete_stored(&mut state);
            Ok::<_, Diagnostics>(encode(&state, &r.ty))
        }
        .await;
        Ok(Response::new(match result {
            Ok(upgraded_state) => pb::upgrade_resource_state::Response { upgraded_state, ..Default::default() },
            Err(d) => pb::upgrade_resource_state::Response { diagnostics: diagnostics(d), ..Default::default() },
        }))
    }

    async fn read_resource(&self, request: Request<pb::read_resource::Request>) -> Rpc<pb::read_resource::Response> {
        let request = request.into_inner();
        let result = async {
            let r = self.resource(&request.type_name)?;
            let state = decode(request.current_state.as_ref(), &r.ty)?;
            let fresh =
                guarded(&self.running, "read", r.resource.read(ReadRequest { state: &state, stop: &self.stop }))
                    .await??;
            Ok::<_, Diagnostics>(encode(&fresh, &r.ty))
        }
        .await;
        Ok(Response::new(match result {
            Ok(new_state) => pb::read_resource::Response { new_state, private: request.private, ..Default::default() },
            Err(d) => pb::read_resource::Response {
                // On failure Terraform keeps what it had.
                new_state: request.current_state,
                diagnostics: diagnostics(d),
                private: request.private,
                ..Default::default()
            },
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Rpc<pb::plan_resource_change::Response> {
        let request = request.into_inner();
        let result = async {
            let r = self.resource(&request.type_name)?;
            let prior = decode(request.prior_state.as_ref(), &r.ty)?;
            let proposed = decode(request.proposed_new_state.as_ref(), &r.ty)?;
            let config = decode(request.config.as_ref(), &r.ty)?;
            if proposed.is_null() {
                // Destroy: nothing to decide.
                return Ok((encode(&Value::Null, &r.ty), Vec::new(), Diagnostics::default()));
            }
            // Values unknown at validate time may be known now.
            let invalid = guarded(&self.running, "validation", async { r.resource.validate(&config) }).await?;
            if invalid.has_errors() {
                return Err(invalid);
            }
            // Defaults and replacement are declared once, in the schema.
            let mut proposed = proposed;
            r.schema.block.apply_defaults(&config, &mut proposed);
            let mut planned = guarded(
                &self.running,
                "plan",
                r.resource.plan(PlanRequest { prior: &prior, proposed: &proposed, config: &config }),
            )
            .await?;
            for path in r.schema.block.replacing_changes(&prior, &planned.state) {
                if !planned.requires_replace.contains(&path) {
                    planned.requires_replace.push(path);
                }
            }
            let mut d = invalid;
            d.extend(planned.diagnostics);
            Ok((encode(&planned.state, &r.ty), planned.requires_replace, d))
        }
        .await;
        Ok(Response::new(match result {
            Ok((planned_state, replace, d)) => pb::plan_resource_change::Response {
                planned_state,
                requires_replace: replace.into_iter().map(attribute_path).collect(),
                planned_private: request.prior_private,
                diagnostics: diagnostics(d),
                ..Default::default()
            },
            Err(d) => pb::plan_resource_change::Response { diagnostics: diagnostics(d), ..Default::default() },
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Rpc<pb::apply_resource_change::Response> {
        let request = request.into_inner();
        let result = async {
            let r = self.resource(&request.type_name)?;
            let prior = decode(request.prior_state.as_ref(), &r.ty)?;
            let planned = decode(request.planned_state.as_ref(), &r.ty)?;
            let config = decode(request.config.as_ref(), &r.ty)?;
            if planned.is_null() {
                let d = guarded(&self.running, "destroy", r.resource.delete(&prior, &self.stop)).await?;
                // A failed destroy leaves the object in state.
                let state = if d.has_errors() { prior } else { Value::Null };
                return Ok((encode(&state, &r.ty), d));
            }
            let applied = guarded(
                &self.running,
                "apply",
                r.resource.apply(ApplyRequest { prior: &prior, planned: &planned, config: &config, stop: &self.stop }),
            )
            .await?;
            Ok((encode(&applied.state, &r.ty), applied.diagnostics))
        }
        .await;
        Ok(Response::new(match result {
            Ok((new_state, d)) => pb::apply_resource_change::Response {
                new_state,
                private: request.planned_private,
                diagnostics: diagnostics(d),
                ..Default::default()
            },
            // Decoding failed or the code panicked: what exists is what was there.
            Err(d) => pb::apply_resource_change::Response {
                new_state: request.prior_state,
                private: request.planned_private,
                diagnostics: diagnostics(d),
                ..Default::default()
            },
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Rpc<pb::import_resource_state::Response> {
        let request = request.into_inner();
        let result = async {
            let r = self.resource(&request.type_name)?;
            let state = guarded(&self.running, "import", r.resource.import(&request.id, &self.stop)).await??;
            Ok::<_, Diagnostics>(pb::import_resource_state::ImportedResource {
                type_name: request.type_name.clone(),
                state: encode(&state, &r.ty),
                ..Default::default()
            })
        }
        .await;
        Ok(Response::new(match result {
            Ok(imported) => {
                pb::import_resource_state::Response { imported_resources: vec![imported], ..Default::default() }
            }
            Err(d) => pb::import_resource_state::Response { diagnostics: diagnostics(d), ..Default::default() },
        }))
    }

    async fn move_resource_state(
        &self,
        _: Request<pb::move_resource_state::Request>,
    ) -> Rpc<pb::move_resource_state::Response> {
        Ok(Response::new(pb::move_resource_state::Response {
            diagnostics: unsupported("moves between resource types"),
            ..Default::default()
        }))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Rpc<pb::validate_data_resource_config::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(pb::validate_data_resource_config::Response {
            diagnostics: unsupported(&format!("data source {name:?}")),
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Rpc<pb::read_data_source::Response> {
        let name = request.into_inner().type_name;
        Ok(Response::new(pb::read_data_source::Response {
            diagnostics: unsupported(&format!("data source {name:?}")),
            ..Default::default()
        }))
    }

    async fn get_functions(&self, _: Request<pb::get_functions::Request>) -> Rpc<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(&self, request: Request<pb::call_function::Request>) -> Rpc<pb::call_function::Response> {
        let name = request.into_inner().name;
        Ok(Response::new(pb::call_function::Response {
            error: Some(pb::FunctionError {
                text: format!("This provider offers no function {name:?}."),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn stop_provider(&self, _: Request<pb::stop_provider::Request>) -> Rpc<pb::stop_provider::Response> {
        log::info("tfplugin", "Terraform asked the provider to stop; cancelling running operations", &[]);
        self.stop.cancel();
        Ok(Response::new(pb::stop_provider::Response::default()))
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::provider::{Applied, Planned};
    use crate::schema::{Attribute, Block};

    #[tokio::test]
    async fn idle_waits_for_every_running_operation_however_it_ends() {
        let running = Running::default();
        tokio::time::timeout(std::time::Duration::from_millis(100), running.idle())
            .await
            .expect("idle at once with nothing running");
        let started = std::time::Instant::now();
        let slow = tokio::spawn({
            let running = running.clone();
            async move { running.count(tokio::time::sleep(std::time::Duration::from_millis(300))).await }
        });
        let dropped = tokio::spawn({
            let running = running.clone();
            async move { running.count(std::future::pending::<()>()).await }
        });
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        dropped.abort();
        running.idle().await;
        assert!(started.elapsed() >= std::time::Duration::from_millis(300), "idle before the slow one ended");
        assert!(slow.is_finished());
        let panicked = guarded(&running, "test", async { panic!("boom") }).await;
        assert!(panicked.is_err());
        tokio::time::timeout(std::time::Duration::from_millis(100), running.idle())
            .await
            .expect("a panicked operation is counted down");
    }

    /// A resource whose every check panics, as a bug in provider code would.
    struct Panicky;

    #[async_trait]
    impl Resource for Panicky {
        fn type_name(&self) -> &'static str {
            "test_panicky"
        }
        fn schema(&self) -> Schema {
            Schema {
                version: 0,
                block: Block::new("x").attribute(Attribute::optional("name", crate::value::Type::String, "n")),
            }
        }
        fn validate(&self, _: &Value) -> Diagnostics {
            panic!("validation bug")
        }
        async fn plan(&self, _: PlanRequest<'_>) -> Planned {
            unreachable!("validation comes first")
        }
        async fn apply(&self, _: ApplyRequest<'_>) -> Applied {
            unreachable!("not applied in these tests")
        }
        async fn read(&self, _: ReadRequest<'_>) -> Result<Value, Diagnostics> {
            unreachable!("not read in these tests")
        }
        async fn import(&self, _: &str, _: &CancellationToken) -> Result<Value, Diagnostics> {
            unreachable!("not imported in these tests")
        }
    }

    struct OneResource(Arc<dyn Resource>);

    #[async_trait]
    impl Provider for OneResource {
        fn schema(&self) -> Schema {
            Schema { version: 0, block: Block::new("p") }
        }
        fn resources(&self) -> Vec<Arc<dyn Resource>> {
            vec![self.0.clone()]
        }
        async fn configure(&self, _: &Value) -> Diagnostics {
            Diagnostics::default()
        }
    }

    #[tokio::test]
    async fn a_panic_in_validation_during_plan_is_an_error_diagnostic() {
        use pb::provider_server::Provider as _;
        let service = ProviderService::new(
            Arc::new(OneResource(Arc::new(Panicky))),
            CancellationToken::new(),
            Running::default(),
        );
        let ty = Panicky.schema().ty();
        let config = encode(&Value::object([("name", "a".into())]), &ty);
        let request = pb::plan_resource_change::Request {
            type_name: "test_panicky".into(),
            prior_state: encode(&Value::Null, &ty),
            proposed_new_state: config.clone(),
            config,
            ..Default::default()
        };
        let response = service
            .plan_resource_change(Request::new(request))
            .await
            .expect("an answer, not a transport error")
            .into_inner();
        let [d] = &response.diagnostics[..] else { panic!("one diagnostic: {:?}", response.diagnostics) };
        assert_eq!(
            (d.summary.as_str(), d.severity),
            ("Provider internal error", pb::diagnostic::Severity::Error as i32)
        );
        assert!(d.detail.contains("during validation: validation bug"), "{}", d.detail);
    }

    /// A resource at schema version 2: version 1 renamed `name` to `title`,
    /// version 2 removed `legacy_flag` and the `item` block's `old_note`,
    /// and added `mode` (default "linear").
    struct Evolved;

    #[async_trait]
    impl Resource for Evolved {
        fn type_name(&self) -> &'static str {
            "test_evolved"
        }
        fn schema(&self) -> Schema {
            let item = Block::new("an item").attribute(Attribute::optional("weight", Type::Number, "w"));
            let block = Block::new("x")
                .attribute(Attribute::optional("title", Type::String, "t"))
                .attribute(Attribute::defaulted("mode", Type::String, "linear", "m"))
                .block("item", Nesting::List, item);
            Schema { version: 2, block }
        }
        fn validate(&self, _: &Value) -> Diagnostics {
            Diagnostics::default()
        }
        fn upgrade_state(
            &self,
            version: i64,
            state: &mut serde_json::Map<String, serde_json::Value>,
        ) -> Result<(), Diagnostics> {
            if version < 1
                && let Some(name) = state.remove("name")
            {
                state.insert("title".into(), name);
            }
            Ok(())
        }
        async fn plan(&self, _: PlanRequest<'_>) -> Planned {
            unreachable!("not planned in these tests")
        }
        async fn apply(&self, _: ApplyRequest<'_>) -> Applied {
            unreachable!("not applied in these tests")
        }
        async fn read(&self, _: ReadRequest<'_>) -> Result<Value, Diagnostics> {
            unreachable!("not read in these tests")
        }
        async fn import(&self, _: &str, _: &CancellationToken) -> Result<Value, Diagnostics> {
            unreachable!("not imported in these tests")
        }
    }

    async fn upgrade(version: i64, json: &[u8]) -> pb::upgrade_resource_state::Response {
        use pb::provider_server::Provider as _;
        let service = ProviderService::new(
            Arc::new(OneResource(Arc::new(Evolved))),
            CancellationToken::new(),
            Running::default(),
        );
        let request = pb::upgrade_resource_state::Request {
            type_name: "test_evolved".into(),
            version,
            raw_state: Some(pb::RawState { json: json.to_vec(), ..Default::default() }),
        };
        service.upgrade_resource_state(Request::new(request)).await.expect("an answer").into_inner()
    }

    #[tokio::test]
    async fn a_state_from_an_older_schema_version_is_upgraded_step_by_step() {
        let fixture = include_bytes!("../tests/fixtures/state-evolved-v0.json");
        let response = upgrade(0, fixture).await;
        assert!(response.diagnostics.is_empty(), "{:?}", response.diagnostics);
        let ty = Evolved.schema().ty();
        let state = msgpack::decode(&response.upgraded_state.expect("a state").msgpack, &ty).unwrap();
        let item = |weight: i64| Value::object([("weight", Value::from(weight))]);
        let expected = Value::object([
            ("title", "checkout".into()),
            ("mode", "linear".into()),
            ("item", Value::List(vec![item(10), item(90)])),
        ]);
        assert_eq!(state, expected, "renamed by the hook, removed attributes dropped, the new one defaulted");

        // A state of the current version passes the hook untouched.
        let current = br#"{"title": "checkout", "mode": "canary", "item": []}"#;
        let state = msgpack::decode(&upgrade(2, current).await.upgraded_state.unwrap().msgpack, &ty).unwrap();
        assert_eq!(state.get("mode"), &Value::from("canary"));
        // One from a newer provider is refused, as is one that is not an object.
        assert_eq!(upgrade(3, current).await.diagnostics[0].summary, "State from a newer provider");
        assert_eq!(upgrade(0, b"[1, 2]").await.diagnostics[0].summary, "Stored state does not match the schema");
    }

    /// A resource that only declares a schema: `label` and the `legacy`
    /// blocks are deprecated.
    struct Deprecating;

    #[async_trait]
    impl Resource for Deprecating {
        fn type_name(&self) -> &'static str {
            "test_deprecating"
        }
        fn schema(&self) -> Schema {
            let legacy = Block::new("l").deprecated("Use rule blocks.").attribute(Attribute::optional(
                "note",
                Type::String,
                "n",
            ));
            let block = Block::new("x")
                .attribute(Attribute::optional("name", Type::String, "n"))
                .attribute(Attribute::optional("label", Type::String, "l").deprecated("Use name instead."))
                .block("legacy", Nesting::List, legacy);
            Schema { version: 0, block }
        }
        fn validate(&self, _: &Value) -> Diagnostics {
            Diagnostics::default()
        }
        async fn plan(&self, _: PlanRequest<'_>) -> Planned {
            unreachable!("not planned in these tests")
        }
        async fn apply(&self, _: ApplyRequest<'_>) -> Applied {
            unreachable!("not applied in these tests")
        }
        async fn read(&self, _: ReadRequest<'_>) -> Result<Value, Diagnostics> {
            unreachable!("not read in these tests")
        }
        async fn import(&self, _: &str, _: &CancellationToken) -> Result<Value, Diagnostics> {
            unreachable!("not imported in these tests")
        }
    }

    #[tokio::test]
    async fn deprecation_messages_travel_in_protocol_6_10_fields() {
        use pb::provider_server::Provider as _;
        use prost::Message;
        let service = ProviderService::new(
            Arc::new(OneResource(Arc::new(Deprecating))),
            CancellationToken::new(),
            Running::default(),
        );
        let response = service
            .get_provider_schema(Request::new(pb::get_provider_schema::Request::default()))
            .await
            .expect("an answer")
            .into_inner();
        let block = response.resource_schemas["test_deprecating"].block.clone().unwrap();
        let label = block.attributes.iter().find(|a| a.name == "label").unwrap();
        assert!(label.deprecated);
        assert_eq!(label.deprecation_message, "Use name instead.");
        let name = block.attributes.iter().find(|a| a.name == "name").unwrap();
        assert!(!name.deprecated && name.deprecation_message.is_empty());
        let legacy = block.block_types[0].block.clone().unwrap();
        assert!(legacy.deprecated);
        assert_eq!(legacy.deprecation_message, "Use rule blocks.");
        assert!(!block.deprecated && block.deprecation_message.is_empty());

        // On the wire: Attribute field 12 and Block field 7, length-delimited
        // (tag bytes 12<<3|2 and 7<<3|2), followed by the message.
        let field = |tag: u8, text: &str| [&[tag, text.len() as u8][..], text.as_bytes()].concat();
        let encoded = label.encode_to_vec();
        assert!(encoded.windows(19).any(|w| w == field(0x62, "Use name instead.")), "{encoded:?}");
        let encoded = legacy.encode_to_vec();
        assert!(encoded.windows(18).any(|w| w == field(0x3a, "Use rule blocks.")), "{encoded:?}");
    }

    #[tokio::test]
    async fn validation_warns_where_a_configuration_sets_something_deprecated() {
        use pb::provider_server::Provider as _;
        let service = ProviderService::new(
            Arc::new(OneResource(Arc::new(Deprecating))),
            CancellationToken::new(),
            Running::default(),
        );
        let ty = Deprecating.schema().ty();
        let validate = |config: Value| {
            let request = pb::validate_resource_config::Request {
                type_name: "test_deprecating".into(),
                config: encode(&config, &ty),
                ..Default::default()
            };
            let service = &service;
            async move { service.validate_resource_config(Request::new(request)).await.unwrap().into_inner() }
        };
        let legacy = |notes: Vec<Value>| Value::List(notes.into_iter().map(|n| Value::object([("note", n)])).collect());
        let quiet = validate(Value::object([("name", "a".into()), ("label", Value::Null), ("legacy", legacy(vec![]))]));
        assert!(quiet.await.diagnostics.is_empty(), "nothing deprecated is set");

        let response = validate(Value::object([
            ("name", Value::Null),
            ("label", "old".into()),
            ("legacy", legacy(vec![Value::Null])),
        ]))
        .await;
        let found: Vec<_> = response
            .diagnostics
            .iter()
            .map(|d| (d.severity, d.detail.as_str(), d.attribute.as_ref().map(|a| a.steps.len())))
            .collect();
        let warning = pb::diagnostic::Severity::Warning as i32;
        assert_eq!(
            found,
            [
                (warning, "label is deprecated. Use name instead.", Some(1)),
                (warning, "legacy is deprecated. Use rule blocks.", Some(1)),
            ]
        );
    }
}
