//! `persona.toml` as a project opens it: any text is a configuration or one clear error.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use persona::config::ProjectConfig;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = ProjectConfig::parse(&text, Path::new("persona.toml")) {
        let _ = config.setting_pairs();
    }
});
