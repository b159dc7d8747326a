//! Compiles the built-in view library (`sql/*.sql`) into the binary, in file-name order, so an
//! installed `persona` needs no source tree to have its views.

use std::{env, fs, path::Path};

fn main() {
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let sql = Path::new(&root).join("sql");
    println!("cargo:rerun-if-changed=sql");
    let mut files: Vec<_> = fs::read_dir(&sql)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"));
    files.sort();
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().expect("a file has a name").to_string_lossy();
        out.push_str(&format!(
            "    (\"sql/{name}\", include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    out.push_str("]\n");
    let dest =
        Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtin_views.rs");
    fs::write(dest, out).expect("OUT_DIR is writable");
}
