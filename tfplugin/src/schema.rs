//! Schemas as resources declare them. The same descriptions feed Terraform
//! (`providers schema -json`) and the generated documentation.

use crate::diag::{AttributePath, Diagnostics};
use crate::value::{Number, Type, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    /// Bumped when the stored state's shape changes; see `UpgradeResourceState`.
    pub version: i64,
    pub block: Block,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Block {
    pub description: String,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    /// Set when the block is deprecated: what to use instead. On a
    /// resource's top-level block it deprecates the resource type.
    pub deprecation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    /// Set by the user or, when left out, by the provider.
    OptionalComputed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub presence: Presence,
    pub sensitive: bool,
    /// Shown in documentation, and filled in at plan time (by
    /// [`Block::apply_defaults`], which the server calls) where the
    /// configuration leaves the attribute out.
    pub default: Option<String>,
    /// A change of this attribute replaces the resource (the server adds it
    /// to the plan's `requires_replace`, see [`Block::replacing_changes`]).
    pub requires_replace: bool,
    /// Set when the attribute is deprecated: what to use instead.
    pub deprecation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; an object, or null when absent.
    Single,
    /// Repeatable blocks in order; a list of objects.
    List,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub name: String,
    pub nesting: Nesting,
    pub block: Block,
    pub min_items: i64,
    pub max_items: i64,
}

impl Attribute {
    fn new(name: &str, ty: Type, presence: Presence, description: &str) -> Attribute {
        Attribute {
            name: name.to_owned(),
            ty,
            description: description.to_owned(),
            presence,
            sensitive: false,
            default: None,
            requires_replace: false,
            deprecation: None,
        }
    }
    pub fn required(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute::new(name, ty, Presence::Required, description)
    }
    pub fn optional(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute::new(name, ty, Presence::Optional, description)
    }
    pub fn computed(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute::new(name, ty, Presence::Computed, description)
    }
    /// Optional; when left out, the provider sets it at plan time (a default
    /// that depends on other attributes).
    pub fn optional_computed(name: &str, ty: Type, description: &str) -> Attribute {
        Attribute::new(name, ty, Presence::OptionalComputed, description)
    }
    /// Optional with a default the provider fills in at plan time.
    pub fn defaulted(name: &str, ty: Type, default: &str, description: &str) -> Attribute {
        Attribute {
            default: Some(default.to_owned()),
            ..Attribute::new(name, ty, Presence::OptionalComputed, description)
        }
    }
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }
    /// Changing it replaces the resource; the documentation says so.
    pub fn requires_replace(mut self) -> Attribute {
        self.requires_replace = true;
        self
    }
    /// Deprecated, with a message saying what to do instead. Terraform shows
    /// it where a configuration references the attribute, the server warns
    /// where a configuration sets it, and the documentation carries it.
    pub fn deprecated(mut self, message: &str) -> Attribute {
        self.deprecation = Some(message.to_owned());
        self
    }

    /// The description with what the schema declares about the attribute
    /// (replacement, default), as Terraform and the documentation show it.
    pub fn full_description(&self) -> String {
        let mut text = self.description.clone();
        if self.requires_replace {
            text.push_str(" Changing it replaces the resource.");
        }
        if let Some(default) = &self.default {
            text.push_str(&format!(" Defaults to `{default}`."));
        }
        text
    }

    /// The default as a value of the attribute's type.
    fn default_value(&self) -> Option<Value> {
        let text = self.default.as_deref()?;
        match self.ty {
            Type::Number => Number::parse(text).map(Value::Number),
            Type::Bool => text.parse().ok().map(Value::Bool),
            _ => Some(Value::string(text)),
        }
    }
}

impl Block {
    pub fn new(description: &str) -> Block {
        Block { description: description.to_owned(), ..Block::default() }
    }
    /// Deprecated, with a message saying what to do instead (see
    /// [`Attribute::deprecated`]).
    pub fn deprecated(mut self, message: &str) -> Block {
        self.deprecation = Some(message.to_owned());
        self
    }
    pub fn attribute(mut self, attribute: Attribute) -> Block {
        self.attributes.push(attribute);
        self
    }
    /// An optional block (Terraform allows at most one for `Single`).
    pub fn block(mut self, name: &str, nesting: Nesting, block: Block) -> Block {
        self.blocks.push(NestedBlock { name: name.to_owned(), nesting, block, min_items: 0, max_items: 0 });
        self
    }
    /// A block that must appear exactly once.
    pub fn required_block(mut self, name: &str, block: Block) -> Block {
        self.blocks.push(NestedBlock {
            name: name.to_owned(),
            nesting: Nesting::Single,
            block,
            min_items: 1,
            max_items: 1,
        });
        self
    }

    /// The object type of values of this block.
    pub fn ty(&self) -> Type {
        let attributes = self.attributes.iter().map(|a| (a.name.clone(), a.ty.clone()));
        let blocks = self.blocks.iter().map(|b| {
            let object = b.block.ty();
            let ty = match b.nesting {
                Nesting::Single => object,
                Nesting::List => Type::list(object),
            };
            (b.name.clone(), ty)
        });
        Type::Object(attributes.chain(blocks).collect())
    }

    /// Sets every declared default in `planned` where `config` has null,
    /// in this block and in the nested blocks the configuration has.
    pub fn apply_defaults(&self, config: &Value, planned: &mut Value) {
        if !matches!(planned, Value::Object(_)) {
            return;
        }
        for a in &self.attributes {
            if config.get(&a.name).is_null()
                && let Some(default) = a.default_value()
            {
                planned.set_attr(&a.name, default);
            }
        }
        for b in &self.blocks {
            let (given, Value::Object(fields)) = (config.get(&b.name), &mut *planned) else { continue };
            let Some(nested) = fields.get_mut(&b.name) else { continue };
            match (b.nesting, given, nested) {
                (Nesting::Single, given @ Value::Object(_), nested) => b.block.apply_defaults(given, nested),
                (Nesting::List, Value::List(given), Value::List(nested)) => {
                    for (g, n) in given.iter().zip(nested.iter_mut()) {
                        b.block.apply_defaults(g, n);
                    }
                }
                _ => {}
            }
        }
    }

    /// Removes from a stored state (cty JSON) every attribute and block this
    /// schema does not declare, in nested blocks too, and returns their
    /// paths: what a schema version removed must not make an old state
    /// unreadable.
    pub fn prune_undeclared(&self, state: &mut serde_json::Map<String, serde_json::Value>) -> Vec<String> {
        let mut removed = Vec::new();
        self.prune_at(state, "", &mut removed);
        removed
    }

    fn prune_at(&self, state: &mut serde_json::Map<String, serde_json::Value>, at: &str, removed: &mut Vec<String>) {
        state.retain(|name, _| {
            let declared =
                self.attributes.iter().any(|a| a.name == *name) || self.blocks.iter().any(|b| b.name == *name);
            if !declared {
                removed.push(format!("{at}{name}"));
            }
            declared
        });
        for b in &self.blocks {
            let at = format!("{at}{}.", b.name);
            match state.get_mut(&b.name) {
                Some(serde_json::Value::Object(nested)) => b.block.prune_at(nested, &at, removed),
                Some(serde_json::Value::Array(items)) => {
                    for item in items.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                        b.block.prune_at(item, &at, removed);
                    }
                }
                _ => {}
            }
        }
    }

    /// Completes a state stored before attributes or blocks were added to
    /// this schema, as a plan would have written them: a defaulted
    /// attribute that is null takes its default, a list block that is null
    /// becomes empty (Terraform plans an empty list, never null, for a list
    /// block the configuration leaves out), and the blocks present are
    /// completed in turn.
    pub fn complete_stored(&self, state: &mut Value) {
        let stored = state.clone();
        self.apply_defaults(&stored, state);
        let Value::Object(fields) = state else { return };
        for b in &self.blocks {
            let nested = fields.entry(b.name.clone()).or_insert(Value::Null);
            match (b.nesting, nested) {
                (Nesting::List, nested @ Value::Null) => *nested = Value::List(Vec::new()),
                (Nesting::List, Value::List(items)) => items.iter_mut().for_each(|item| b.block.complete_stored(item)),
                (Nesting::Single, nested @ Value::Object(_)) => b.block.complete_stored(nested),
                _ => {}
            }
        }
    }

    /// The attributes marked `requires_replace` whose value differs between
    /// `prior` and `planned` (none on create), in single nested blocks too.
    pub fn replacing_changes(&self, prior: &Value, planned: &Value) -> Vec<AttributePath> {
        let mut out = Vec::new();
        if !prior.is_null() {
            self.collect_replacing(prior, planned, &AttributePath(Vec::new()), &mut out);
        }
        out
    }

    fn collect_replacing(&self, prior: &Value, planned: &Value, at: &AttributePath, out: &mut Vec<AttributePath>) {
        let path = |name: &str| if at.0.is_empty() { AttributePath::root(name) } else { at.clone().attribute(name) };
        for a in self.attributes.iter().filter(|a| a.requires_replace) {
            if prior.get(&a.name) != planned.get(&a.name) {
                out.push(path(&a.name));
            }
        }
        for b in self.blocks.iter().filter(|b| b.nesting == Nesting::Single) {
            b.block.collect_replacing(prior.get(&b.name), planned.get(&b.name), &path(&b.name), out);
        }
    }

    /// Warnings for each deprecated attribute or nested block `config` sets
    /// (is not null), with the path and the deprecation message, as SDKs
    /// give them at validation: Terraform itself warns only where a
    /// deprecated value is referenced.
    pub fn deprecated_uses(&self, config: &Value) -> Diagnostics {
        let mut warnings = Diagnostics::default();
        if let Some(message) = &self.deprecation
            && !config.is_null()
        {
            warnings.warning("Deprecated", message.clone());
        }
        self.collect_deprecated(config, &AttributePath(Vec::new()), &mut warnings);
        warnings
    }

    fn collect_deprecated(&self, config: &Value, at: &AttributePath, warnings: &mut Diagnostics) {
        let path = |name: &str| if at.0.is_empty() { AttributePath::root(name) } else { at.clone().attribute(name) };
        let warn = |warnings: &mut Diagnostics, path: AttributePath, message: &str| {
            warnings.warning_at(path.clone(), "Deprecated", format!("{path} is deprecated. {message}"))
        };
        for a in &self.attributes {
            if let Some(message) = &a.deprecation
                && !config.get(&a.name).is_null()
            {
                warn(warnings, path(&a.name), message);
            }
        }
        for b in &self.blocks {
            let given = config.get(&b.name);
            let present = match given {
                Value::List(items) => !items.is_empty(),
                other => !other.is_null(),
            };
            if let Some(message) = &b.block.deprecation
                && present
            {
                warn(warnings, path(&b.name), message);
            }
            match (b.nesting, given) {
                (Nesting::Single, given @ Value::Object(_)) => {
                    b.block.collect_deprecated(given, &path(&b.name), warnings)
                }
                (Nesting::List, Value::List(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        b.block.collect_deprecated(item, &path(&b.name).index(i), warnings);
                    }
                }
                _ => {}
            }
        }
    }

    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// What Terraform would reject about this block when it loads the
    /// schema ("invalid schema ... which is a bug in the provider").
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names: Vec<&str> = self
            .attributes
            .iter()
            .map(|a| a.name.as_str())
            .chain(self.blocks.iter().map(|b| b.name.as_str()))
            .collect();
        for name in &names {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                problems.push(format!("{name:?}: names must be lowercase letters, digits and underscores"));
            }
        }
        names.sort_unstable();
        for pair in names.windows(2).filter(|p| p[0] == p[1]) {
            problems.push(format!("{:?}: declared twice", pair[0]));
        }
        for b in &self.blocks {
            if b.nesting == Nesting::Single && (b.min_items != b.max_items || b.min_items > 1) {
                problems.push(format!("{}: MinItems and MaxItems must match (0 or 1) in single nesting", b.name));
            }
            problems.extend(b.block.problems().into_iter().map(|p| format!("{}.{p}", b.name)));
        }
        problems
    }
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Schema {
        Schema { version, block }
    }
    pub fn ty(&self) -> Type {
        self.block.ty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Severity;

    #[test]
    fn problems_mirror_terraforms_schema_checks() {
        let bad = Block::new("x")
            .attribute(Attribute::required("Name", Type::String, "n"))
            .attribute(Attribute::required("dup", Type::String, "d"))
            .block("dup", Nesting::List, Block::new("b"));
        assert_eq!(bad.problems().len(), 2);
        let mut single = Block::new("x").block("one", Nesting::Single, Block::new("b"));
        assert!(single.problems().is_empty());
        single.blocks[0].max_items = 1;
        assert_eq!(single.problems(), ["one: MinItems and MaxItems must match (0 or 1) in single nesting"]);
        assert!(Block::new("x").required_block("alb", Block::new("a")).problems().is_empty());
    }

    fn defaulted_block() -> Block {
        Block::new("x")
            .attribute(Attribute::defaulted("poll", Type::String, "10s", "p"))
            .attribute(Attribute::required("arn", Type::String, "a").requires_replace())
            .block(
                "analysis",
                Nesting::Single,
                Block::new("a")
                    .attribute(Attribute::defaulted("confidence", Type::Number, "0.99", "c"))
                    .attribute(Attribute::optional("zone", Type::String, "z").requires_replace()),
            )
            .block(
                "step",
                Nesting::List,
                Block::new("s").attribute(Attribute::defaulted("bake", Type::String, "1m", "b")),
            )
    }

    #[test]
    fn defaults_fill_what_the_configuration_leaves_out_at_every_depth() {
        let block = defaulted_block();
        let config = Value::object([
            ("poll", Value::Null),
            ("arn", "a".into()),
            ("analysis", Value::object([("confidence", Value::Null), ("zone", Value::Null)])),
            ("step", Value::List(vec![Value::object([("bake", Value::Null)]), Value::object([("bake", "5m".into())])])),
        ]);
        let mut planned = config.clone();
        block.apply_defaults(&config, &mut planned);
        assert_eq!(planned.get("poll"), &Value::from("10s"));
        assert_eq!(planned.get("analysis").get("confidence"), &Value::Number(Number::parse("0.99").unwrap()));
        let bakes: Vec<_> = planned.get("step").elements().unwrap().iter().map(|s| s.get("bake").clone()).collect();
        assert_eq!(bakes, [Value::from("1m"), Value::from("5m")]);

        // An absent block stays absent.
        let mut without = config.clone();
        without.set_attr("analysis", Value::Null);
        let mut planned = without.clone();
        block.apply_defaults(&without, &mut planned);
        assert_eq!(planned.get("analysis"), &Value::Null);
    }

    #[test]
    fn a_stored_state_is_completed_as_a_plan_would_have_written_it() {
        let block = defaulted_block();
        // Stored before `poll`, `analysis.confidence` and the `step` blocks existed.
        let mut stored = Value::object([
            ("poll", Value::Null),
            ("arn", "a".into()),
            ("analysis", Value::object([("confidence", Value::Null), ("zone", "z".into())])),
            ("step", Value::Null),
        ]);
        block.complete_stored(&mut stored);
        assert_eq!(stored.get("poll"), &Value::from("10s"));
        assert_eq!(stored.get("analysis").get("confidence"), &Value::Number(Number::parse("0.99").unwrap()));
        assert_eq!(stored.get("analysis").get("zone"), &Value::from("z"), "what was stored stays");
        assert_eq!(stored.get("step"), &Value::List(Vec::new()), "a list block is empty, never null");
        // Stored list items are completed too; an absent single block stays absent.
        let mut stored = Value::object([
            ("poll", "1s".into()),
            ("arn", "a".into()),
            ("analysis", Value::Null),
            ("step", Value::List(vec![Value::object([("bake", Value::Null)])])),
        ]);
        block.complete_stored(&mut stored);
        assert_eq!((stored.get("poll"), stored.get("analysis")), (&Value::from("1s"), &Value::Null));
        assert_eq!(stored.get("step").elements().unwrap()[0].get("bake"), &Value::from("1m"));
    }

    #[test]
    fn changes_of_replacing_attributes_are_listed_with_their_paths() {
        let block = defaulted_block();
        let state = |arn: &str, zone: Option<&str>| {
            Value::object([
                ("arn", arn.into()),
                ("poll", "1s".into()),
                ("analysis", Value::object([("zone", zone.map(str::to_owned).into())])),
            ])
        };
        assert!(block.replacing_changes(&Value::Null, &state("a", None)).is_empty(), "nothing to replace on create");
        assert!(block.replacing_changes(&state("a", Some("z")), &state("a", Some("z"))).is_empty());
        let paths: Vec<String> = block
            .replacing_changes(&state("a", None), &state("b", Some("z")))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(paths, ["arn", "analysis.zone"]);
    }

    #[test]
    fn deprecated_uses_are_warned_at_their_paths_at_every_depth() {
        let block = Block::new("x")
            .attribute(Attribute::optional("label", Type::String, "l").deprecated("Use name."))
            .block(
                "canary",
                Nesting::Single,
                Block::new("c").attribute(Attribute::optional("percent", Type::Number, "p").deprecated("Use weight.")),
            )
            .block(
                "step",
                Nesting::List,
                Block::new("s").attribute(Attribute::optional("bake", Type::String, "b").deprecated("Use wait.")),
            );
        let config = |label: Value, percent: Value, bakes: Vec<Value>| {
            let steps = bakes.into_iter().map(|b| Value::object([("bake", b)])).collect();
            Value::object([
                ("label", label),
                ("canary", Value::object([("percent", percent)])),
                ("step", Value::List(steps)),
            ])
        };
        assert!(block.deprecated_uses(&config(Value::Null, Value::Null, vec![Value::Null])).is_empty());
        let warnings = block.deprecated_uses(&config("a".into(), Value::from(5), vec![Value::Null, "1m".into()]));
        let found: Vec<_> = warnings
            .0
            .iter()
            .map(|d| (d.severity, d.attribute.as_ref().unwrap().to_string(), d.detail.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                (Severity::Warning, "label".into(), "label is deprecated. Use name."),
                (Severity::Warning, "canary.percent".into(), "canary.percent is deprecated. Use weight."),
                (Severity::Warning, "step[1].bake".into(), "step[1].bake is deprecated. Use wait."),
            ]
        );

        let retired = Block::new("r").deprecated("Use example_new.");
        let [warning] = &retired.deprecated_uses(&Value::object([])).0[..] else { panic!("one warning") };
        assert_eq!((warning.detail.as_str(), &warning.attribute), ("Use example_new.", &None));
        assert!(retired.deprecated_uses(&Value::Null).is_empty());
    }

    #[test]
    fn block_type_includes_nested_blocks() {
        let block = Block::new("x")
            .attribute(Attribute::required("name", Type::String, "n"))
            .block("step", Nesting::List, Block::new("s").attribute(Attribute::required("percent", Type::Number, "p")))
            .block("canary", Nesting::Single, Block::new("c"));
        assert_eq!(
            block.ty(),
            Type::object([
                ("name", Type::String),
                ("step", Type::list(Type::object([("percent", Type::Number)]))),
                ("canary", Type::object([])),
            ])
        );
    }
}
