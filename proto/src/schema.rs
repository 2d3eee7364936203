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
    pub fn block(mut self, name: &str, nesting: Nesting, block: Block) -> Block {
        let max_items = if nesting == Nesting::Single { 1 } else { 0 };
        self.blocks.push(NestedBlock { name: name.to_owned(), nesting, block, min_items: 0, max_items });
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
