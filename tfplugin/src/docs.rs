//! Registry documentation rendered from schemas, so the docs say exactly
//! what the provider accepts: every attribute, its type, whether it is
//! required, and its default.

use crate::schema::{Attribute, Block, Nesting, Presence, Schema};
use crate::value::Type;

/// One page in the Terraform Registry layout (`docs/index.md`,
/// `docs/resources/<name>.md`).
pub struct Page<'a> {
    /// The provider's name (`example` for resources `example_*`), shown in
    /// every page's title.
    pub provider: &'a str,
    /// The resource type (`example_widget`), or the provider name for the index.
    pub title: &'a str,
    /// "Resource" or "Provider".
    pub kind: &'a str,
    pub schema: &'a Schema,
    /// Terraform example, shown under "Example Usage".
    pub example: &'a str,
    /// Extra hand-written Markdown placed after the example (may be empty).
    pub notes: &'a str,
    /// Shell example of `terraform import`, if the resource supports it.
    pub import: Option<&'a str>,
}

pub fn render(page: &Page<'_>) -> String {
    let block = &page.schema.block;
    let first_sentence = block.description.split(". ").next().unwrap_or_default().trim_end_matches('.');
    let mut out = String::new();
    out.push_str(&format!(
        "---\npage_title: \"{} {} - {}\"\ndescription: |-\n  {}.\n---\n\n",
        page.title, page.kind, page.provider, first_sentence
    ));
    out.push_str(&format!("# {} ({})\n\n", page.title, page.kind));
    if let Some(message) = &block.deprecation {
        out.push_str(&format!("{}\n\n", deprecation_note(message)));
    }
    out.push_str(&format!("{}\n\n", block.description));
    out.push_str(&format!("## Example Usage\n\n```terraform\n{}\n```\n\n", page.example.trim_end()));
    if !page.notes.trim().is_empty() {
        out.push_str(page.notes.trim_end());
        out.push_str("\n\n");
    }
    out.push_str("## Schema\n\n");
    render_block(&mut out, block, "");
    if let Some(import) = page.import {
        out.push_str(&format!(
            "\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n{}\n```\n",
            import.trim_end()
        ));
    }
    out
}

fn render_block(out: &mut String, block: &Block, prefix: &str) {
    type Member = fn(&Attribute) -> bool;
    let groups: [(&str, Member); 3] = [
        ("Required", |a| a.presence == Presence::Required),
        ("Optional", |a| matches!(a.presence, Presence::Optional | Presence::OptionalComputed)),
        ("Read-Only", |a| a.presence == Presence::Computed),
    ];
    for (heading, member) in groups {
        let attributes: Vec<_> = block.attributes.iter().filter(|a| member(a)).collect();
        let blocks: Vec<_> = match heading {
            "Required" => block.blocks.iter().filter(|b| b.min_items > 0).collect(),
            "Optional" => block.blocks.iter().filter(|b| b.min_items == 0).collect(),
            _ => Vec::new(),
        };
        if attributes.is_empty() && blocks.is_empty() {
            continue;
        }
        out.push_str(&format!("### {heading}\n\n"));
        for a in attributes {
            let mut line = format!("- `{}` ({}", a.name, type_name(&a.ty));
            if a.sensitive {
                line.push_str(", Sensitive");
            }
            if a.deprecation.is_some() {
                line.push_str(", Deprecated");
            }
            line.push_str(&format!(") {}", a.full_description()));
            if let Some(message) = &a.deprecation {
                line.push_str(&format!(" {}", deprecation_note(message)));
            }
            out.push_str(&line);
            out.push('\n');
        }
        for b in blocks {
            let anchor = format!("{prefix}{}", b.name);
            let kind = match (b.nesting, b.min_items > 0) {
                (Nesting::Single, true) => "Block, Required",
                (Nesting::Single, false) => "Block, Optional, at most one",
                (Nesting::List, _) => "Block List, Optional",
            };
            let (deprecated, note) = match &b.block.deprecation {
                Some(message) => (", Deprecated", format!(" {}", deprecation_note(message))),
                None => ("", String::new()),
            };
            out.push_str(&format!(
                "- `{}` ({kind}{deprecated}) {}{note} (see [below for nested schema](#nestedblock--{}))\n",
                b.name,
                b.block.description,
                anchor.replace('.', "--")
            ));
        }
        out.push('\n');
    }
    for b in &block.blocks {
        let anchor = format!("{prefix}{}", b.name);
        out.push_str(&format!(
            "<a id=\"nestedblock--{}\"></a>\n### Nested Schema for `{anchor}`\n\n",
            anchor.replace('.', "--")
        ));
        render_block(out, &b.block, &format!("{anchor}."));
    }
}

fn deprecation_note(message: &str) -> String {
    format!("**Deprecated:** {message}")
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Bool => "Boolean".into(),
        Type::Number => "Number".into(),
        Type::String => "String".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_groups_defaults_and_nested_blocks() {
        let schema = Schema::new(
            0,
            Block::new("Does things. More detail.")
                .attribute(Attribute::required("names", Type::list(Type::String), "Names."))
                .attribute(Attribute::defaulted("every", Type::String, "10s", "How often."))
                .attribute(Attribute::computed("id", Type::String, "Id."))
                .block(
                    "inner",
                    Nesting::Single,
                    Block::new("Inner.").attribute(Attribute::optional("x", Type::Number, "X.").sensitive()),
                ),
        );
        let page = render(&Page {
            provider: "example",
            title: "thing",
            kind: "Resource",
            schema: &schema,
            example: "resource \"thing\" \"a\" {}",
            notes: "",
            import: None,
        });
        assert!(
            page.starts_with("---\npage_title: \"thing Resource - example\"\ndescription: |-\n  Does things.\n---")
        );
        assert!(page.contains("### Required\n\n- `names` (List of String) Names.\n"));
        assert!(page.contains("- `every` (String) How often. Defaults to `10s`.\n"));
        assert!(page.contains("### Read-Only\n\n- `id` (String) Id.\n"));
        assert!(page.contains(
            "- `inner` (Block, Optional, at most one) Inner. (see [below for nested schema](#nestedblock--inner))"
        ));
        assert!(page.contains("### Nested Schema for `inner`\n\n### Optional\n\n- `x` (Number, Sensitive) X.\n"));
        assert!(!page.contains("## Import"));
        assert!(!page.contains("Deprecated"));
    }

    #[test]
    fn deprecations_are_marked_with_their_messages() {
        let schema = Schema::new(
            0,
            Block::new("Old things.")
                .deprecated("Use `example_new` instead.")
                .attribute(Attribute::optional("label", Type::String, "A label.").deprecated("Use `name` instead."))
                .block("legacy", Nesting::List, Block::new("Legacy.").deprecated("Use `rule` blocks.")),
        );
        let page = render(&Page {
            provider: "example",
            title: "example_old",
            kind: "Resource",
            schema: &schema,
            example: "",
            notes: "",
            import: None,
        });
        assert!(page.contains("# example_old (Resource)\n\n**Deprecated:** Use `example_new` instead.\n\nOld things."));
        assert!(page.contains("- `label` (String, Deprecated) A label. **Deprecated:** Use `name` instead.\n"));
        assert!(page.contains(
            "- `legacy` (Block List, Optional, Deprecated) Legacy. **Deprecated:** Use `rule` blocks. (see [below"
        ));
    }
}
