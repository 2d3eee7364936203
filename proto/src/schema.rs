//! Schemas as resources declare them. The same descriptions feed Terraform
//! (`providers schema -json`) and the generated documentation.

use crate::value::Type;

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
    /// Shown in documentation; the provider applies it when planning.
    pub default: Option<String>,
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
    /// Optional with a default the provider fills in at plan time.
    pub fn defaulted(name: &str, ty: Type, default: &str, description: &str) -> Attribute {
        Attribute { default: Some(default.to_owned()), ..Attribute::new(name, ty, Presence::OptionalComputed, description) }
    }
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }
}

impl Block {
    pub fn new(description: &str) -> Block {
        Block { description: description.to_owned(), ..Block::default() }
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
        self.blocks.push(NestedBlock { name: name.to_owned(), nesting: Nesting::Single, block, min_items: 1, max_items: 1 });
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

    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// What Terraform would reject about this block when it loads the
    /// schema ("invalid schema ... which is a bug in the provider").
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut names: Vec<&str> = self.attributes.iter().map(|a| a.name.as_str()).chain(self.blocks.iter().map(|b| b.name.as_str())).collect();
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
