// Compiles the plugin protocol definitions in `proto/` with a vendored protoc,
// so building needs no system packages.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/tfplugin6.proto", "proto/plugin.proto", "proto/health.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // RPCs for features this crate does not serve (ephemeral resources,
        // list resources, actions, state stores) answer Unimplemented by default;
        // Terraform only calls them for types a provider declares.
        .generate_default_stubs(true)
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
