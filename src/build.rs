//! Compiles the built-in view library (`sql/*.sql`) and tag catalogue (`sql/tags/*.sql`) into
//! the binary, in file-name order, so an installed `persona` needs no source tree to have them.

use std::{env, fs, path::Path};

fn main() {
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    embed(
        &Path::new(&root).join("sql"),
        "sql",
        &Path::new(&out).join("builtin_views.rs"),
    );
    embed(
        &Path::new(&root).join("sql/tags"),
        "sql/tags",
        &Path::new(&out).join("builtin_tags.rs"),
    );
}

/// Writes `dest` as a slice of `(path, include_str!(file))` for the `*.sql` files in `dir`.
fn embed(dir: &Path, label: &str, dest: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("a file has a name").to_string_lossy();
        out.push_str(&format!(
            "    (\"{label}/{name}\", include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    out.push_str("]\n");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
