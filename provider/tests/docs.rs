//! The registry docs are rendered from the schemas. This test fails when a
//! file in docs/ differs from what the code says; run it with
//! `UPDATE_DOCS=1` to rewrite them.

use std::path::{Path, PathBuf};

use terraform_provider_progressive::{PROVIDER_NAME, config, resources};
use tfplugin::docs::{Page, render};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn optional(path: &str) -> Option<String> {
    std::fs::read_to_string(root().join(path)).ok()
}

#[test]
fn docs_match_the_schemas() {
    let provider_schema = config::schema();
    let mut pages = vec![(
        "docs/index.md".to_owned(),
        render(&Page {
            provider: PROVIDER_NAME,
            title: PROVIDER_NAME,
            kind: "Provider",
            schema: &provider_schema,
            example: &read("examples/provider/provider.tf"),
            notes: &read("templates/index.md"),
            import: None,
        }),
    )];
    for (name, schema) in resources::documented() {
        let short = name.trim_start_matches("progressive_");
        pages.push((
            format!("docs/resources/{short}.md"),
            render(&Page {
                provider: PROVIDER_NAME,
                title: name,
                kind: "Resource",
                schema: &schema,
                example: &read(&format!("examples/resources/{name}/resource.tf")),
                notes: &optional(&format!("templates/resources/{name}.md")).unwrap_or_default(),
                import: optional(&format!("examples/resources/{name}/import.sh")).as_deref(),
            }),
        ));
    }
    let update = std::env::var_os("UPDATE_DOCS").is_some();
    let mut stale = Vec::new();
    for (path, expected) in pages {
        let full = root().join(&path);
        if update {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, &expected).unwrap();
        } else if optional(&path).as_deref() != Some(expected.as_str()) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "stale docs: {stale:?}; regenerate with UPDATE_DOCS=1 cargo test -p terraform-provider-progressive --test docs"
    );
}

#[test]
fn schemas_are_valid_for_terraform() {
    let mut schemas = resources::documented();
    schemas.push(("provider", config::schema()));
    for (name, schema) in schemas {
        assert_eq!(schema.block.problems(), Vec::<String>::new(), "{name}");
    }
}
