#!/usr/bin/env bash
# Builds the provider and writes a Terraform Registry release into dist/:
#
#   terraform-provider-progressive_VERSION_<os>_<arch>.zip  the one binary,
#       named terraform-provider-progressive_vVERSION (.exe on Windows)
#   terraform-provider-progressive_VERSION_manifest.json    terraform-registry-manifest.json
#   terraform-provider-progressive_VERSION_SHA256SUMS       sha256sum lines over every zip of
#       VERSION in dist/ and the manifest, sorted by file name
#
# Usage: scripts/release.sh [--target TRIPLE] [--binary PATH] [--out DIR] VERSION
#
#   VERSION          must be provider/Cargo.toml's version, written as semver without a
#                    leading "v" (MAJOR.MINOR.PATCH, optionally -PRERELEASE; no +BUILD, which does
#                    not order versions). Anything else is refused, so the artifacts always
#                    carry the version Cargo.toml and CHANGELOG.md name.
#   --target TRIPLE  a Rust target to build for (default: this toolchain's host). Its
#                    <os>_<arch> is derived from the triple; see "Other platforms" below.
#   --binary PATH    package PATH instead of building (e.g. target/debug's binary for install
#                    tests). It must have been built for --target (default: the host).
#   --out DIR        where the artifacts go (default: <repo>/dist, ignored by git).
#
# Running it once per target with the same --out accumulates the zips; SHA256SUMS is
# rewritten each time to cover all of them.
#
# The zip is reproducible: one entry, a fixed time stamp (1980-01-01 00:00, the zip epoch),
# mode 0755, deflated by python3's zipfile. Its sha256 is the "zh:" hash of Terraform's lock
# file; the "h1:" hash covers the unpacked binary only.
#
# Other platforms (the Registry serves one zip per <os>_<arch>):
#   linux_amd64    x86_64-unknown-linux-gnu    built natively on x86-64 Linux
#   linux_arm64    aarch64-unknown-linux-gnu   rustup target add; a cross linker
#                  (gcc-aarch64-linux-gnu, set CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER)
#                  and a C cross compiler for aws-lc-sys (CC_aarch64_unknown_linux_gnu)
#   darwin_amd64   x86_64-apple-darwin         build on macOS (Xcode command line tools);
#   darwin_arm64   aarch64-apple-darwin        sign and notarize the binary before packaging
#                  (codesign, notarytool) and pass it with --binary
#   windows_amd64  x86_64-pc-windows-msvc      build on Windows (MSVC) or with a cross
#                  toolchain; serves the plugin over TCP there (design/0014), which is
#                  tested on Linux only: no Windows build has been run yet
# Publishing to the Registry also needs a detached GPG signature of SHA256SUMS
# (gpg --detach-sign → terraform-provider-progressive_VERSION_SHA256SUMS.sig) with the key
# registered for the namespace. RELEASING.md has the whole procedure.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
name=terraform-provider-progressive

# GNU coreutils' sha256sum, or macOS's shasum; both write the same lines.
if command -v sha256sum >/dev/null; then
    sha256=(sha256sum)
elif command -v shasum >/dev/null; then
    sha256=(shasum -a 256)
else
    echo "release: error: neither sha256sum nor shasum found" >&2
    exit 1
fi

die() { echo "release: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set/d; s/^# \{0,1\}//; p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

target="" binary="" out="$root/dist" version=""
while (($#)); do
    case $1 in
        --target) target=${2:?--target needs a value}; shift 2 ;;
        --binary) binary=${2:?--binary needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        -h | --help) usage ;;
        -*) die "unknown option $1" ;;
        *) [[ -z $version ]] || die "one VERSION only (got $version and $1)"; version=$1; shift ;;
    esac
done
[[ -n $version ]] || usage

command -v python3 >/dev/null || die "python3 not found (it writes the zip and reads cargo metadata)"
cd "$root"

# Cargo's view of the package: its version and the target directory (honours CARGO_TARGET_DIR).
metadata=$(
    cargo metadata --no-deps --format-version 1 --locked | python3 -c '
import json, sys
meta = json.load(sys.stdin)
package = next(p for p in meta["packages"] if p["name"] == sys.argv[1])
print(package["version"], meta["target_directory"])' "$name"
) || die "cargo metadata failed"
read -r cargo_version target_dir <<<"$metadata"

semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$'
[[ $version =~ $semver ]] || die "VERSION must be semver MAJOR.MINOR.PATCH[-PRERELEASE] without a leading v, got '$version'"
[[ $version == "$cargo_version" ]] \
    || die "VERSION $version is not provider/Cargo.toml's version $cargo_version; change Cargo.toml first"

host=$(rustc -vV | sed -n 's/^host: //p')
triple=${target:-$host}
case $triple in
    x86_64-unknown-linux-*) platform=linux_amd64 ;;
    aarch64-unknown-linux-*) platform=linux_arm64 ;;
    x86_64-apple-darwin) platform=darwin_amd64 ;;
    aarch64-apple-darwin) platform=darwin_arm64 ;;
    x86_64-pc-windows-*) platform=windows_amd64 ;;
    *) die "no Terraform platform known for the Rust target $triple" ;;
esac
exe=""
[[ $platform == windows_* ]] && exe=.exe

if [[ -z $binary ]]; then
    build=(cargo build --release -p "$name" --locked)
    if [[ -n $target ]]; then
        build+=(--target "$target")
        binary="$target_dir/$target/release/$name$exe"
    else
        binary="$target_dir/release/$name$exe"
    fi
    echo "release: ${build[*]}" >&2
    "${build[@]}"
fi
[[ -f $binary ]] || die "no binary at $binary"

mkdir -p "$out"
zip="$out/${name}_${version}_${platform}.zip"
manifest="$out/${name}_${version}_manifest.json"
sums="$out/${name}_${version}_SHA256SUMS"

python3 - "$binary" "$zip" "${name}_v${version}${exe}" <<'EOF'
import os, shutil, sys, zipfile
binary, archive, member = sys.argv[1:]
entry = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
entry.create_system = 3  # Unix, so that unzip and Terraform apply the mode below
entry.external_attr = (0o100755 << 16)  # regular file, rwxr-xr-x
entry.compress_type = zipfile.ZIP_DEFLATED
entry.file_size = os.path.getsize(binary)  # zip64 fields only when the size needs them
with open(binary, "rb") as source, zipfile.ZipFile(archive + ".partial", "w") as z:
    with z.open(entry, "w") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
EOF
mv "$zip.partial" "$zip"
cp terraform-registry-manifest.json "$manifest"

(
    cd "$out"
    LC_ALL=C "${sha256[@]}" -- "${name}_${version}"_*.zip "${name}_${version}_manifest.json" | LC_ALL=C sort -k2 >"$sums.partial"
    mv "$sums.partial" "$sums"
)
echo "release: wrote $zip" >&2
echo "release: $(wc -l <"$sums") files in $sums" >&2
