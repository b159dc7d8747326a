//! `persona ingest`'s reader of text sources on any bytes: the first byte picks the format
//! (csv, tsv, json, ndjson) and the encoding (UTF-8 or GB18030), the rest is one file. Every
//! record is kept or rejected with its reason; none is lost.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use persona::config::{ProjectConfig, SourceConfig};
use persona::ingest::read::{FileStamp, TextReader};

static SOURCES: LazyLock<Vec<SourceConfig>> = LazyLock::new(|| {
    let mut sources = Vec::new();
    for format in ["csv", "tsv", "json", "ndjson"] {
        for encoding in ["utf-8", "gb18030"] {
            let text = format!(
                "[[source]]\nname = \"raw\"\npath = \"raw.{format}\"\nformat = \"{format}\"\nencoding = \"{encoding}\"\n"
            );
            let config = ProjectConfig::parse(&text, Path::new("persona.toml"))
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            sources.extend(config.sources);
        }
    }
    sources
});

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let source = &SOURCES[usize::from(first) % SOURCES.len()];
    let file = FileStamp {
        name: "raw".into(),
        path: PathBuf::from("raw"),
        size: body.len() as u64,
        modified_ns: 0,
    };
    let mut reader = TextReader::new(source);
    if reader.add(&file, body.to_vec()).is_ok() {
        let raw = reader.finish();
        let kept: usize = raw.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(
            raw.records,
            (kept + raw.rejects.len()) as u64,
            "records read = kept + rejected"
        );
    }
});
