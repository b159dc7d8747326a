//! `id_key(text)` and `id_text(key)`: text customer ids mapped to integers (for bitmaps)
//! through a dictionary kept in a file, so a key means the same id in every session.
//!
//! The file (`persona.id_dictionary`, by default `.persona/id_dictionary.txt` in the project)
//! holds one id per line; an id's key is its line number. New ids are appended under an
//! exclusive file lock, after reading whatever another process appended meanwhile, and synced
//! before the keys are returned, so two processes never give one key to two ids. A line cut
//! short by a crash (no final newline) is ignored and overwritten by the next append.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Volatility,
};

use super::DOC_SECTION;
use crate::args::is_text;
use crate::segment::options;

/// One dictionary file, as far as this process has read it.
#[derive(Debug, Default)]
struct Dictionary {
    keys: HashMap<String, i64>,
    ids: Vec<String>,
    /// Bytes of the file read so far (complete lines only).
    read_to: u64,
}

fn escape(id: &str) -> String {
    id.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn io_error(path: &Path, e: std::io::Error) -> DataFusionError {
    DataFusionError::Execution(format!("id dictionary {}: {e}", path.display()))
}

impl Dictionary {
    /// Reads the complete lines appended since the last read.
    fn catch_up(&mut self, file: &mut File, path: &Path) -> Result<()> {
        file.seek(SeekFrom::Start(self.read_to))
            .map_err(|e| io_error(path, e))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io_error(path, e))?;
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let text = String::from_utf8_lossy(&bytes[..complete]);
        for line in text.lines() {
            let id = unescape(line);
            self.ids.push(id.clone());
            self.keys.insert(id, self.ids.len() as i64);
        }
        self.read_to += complete as u64;
        Ok(())
    }

    fn open(path: &Path) -> Result<File> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| io_error(path, e))?;
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io_error(path, e))
    }

    /// The keys of these ids, adding the new ones to the file.
    fn keys(&mut self, path: &Path, ids: &[Option<&str>]) -> Result<Vec<Option<i64>>> {
        if ids.iter().flatten().any(|id| !self.keys.contains_key(*id)) {
            let mut file = Self::open(path)?;
            file.lock().map_err(|e| io_error(path, e))?;
            self.catch_up(&mut file, path)?;
            let mut appended = String::new();
            for id in ids.iter().flatten() {
                if !self.keys.contains_key(*id) {
                    self.ids.push(id.to_string());
                    self.keys.insert(id.to_string(), self.ids.len() as i64);
                    appended.push_str(&escape(id));
                    appended.push('\n');
                }
            }
            // Drop a torn last line, then append after the complete ones.
            file.set_len(self.read_to).map_err(|e| io_error(path, e))?;
            file.seek(SeekFrom::Start(self.read_to))
                .map_err(|e| io_error(path, e))?;
            file.write_all(appended.as_bytes())
                .map_err(|e| io_error(path, e))?;
            file.sync_data().map_err(|e| io_error(path, e))?;
            self.read_to += appended.len() as u64;
            file.unlock().map_err(|e| io_error(path, e))?;
        }
        Ok(ids.iter().map(|id| id.map(|id| self.keys[id])).collect())
    }

    /// The ids of these keys (NULL for a key the file does not have).
    fn ids(&mut self, path: &Path, keys: &[Option<i64>]) -> Result<Vec<Option<String>>> {
        let known = |k: i64, n: usize| k >= 1 && (k as usize) <= n;
        if keys.iter().flatten().any(|&k| !known(k, self.ids.len())) && path.exists() {
            let mut file = Self::open(path)?;
            self.catch_up(&mut file, path)?;
        }
        Ok(keys
            .iter()
            .map(|k| {
                k.filter(|&k| known(k, self.ids.len()))
                    .map(|k| self.ids[k as usize - 1].clone())
            })
            .collect())
    }
}

/// The dictionary of a file, shared by every session of the process.
fn dictionary(path: &Path) -> Arc<Mutex<Dictionary>> {
    static ALL: LazyLock<Mutex<HashMap<PathBuf, Arc<Mutex<Dictionary>>>>> =
        LazyLock::new(Default::default);
    let mut all = ALL.lock().unwrap_or_else(|e| e.into_inner());
    all.entry(path.to_path_buf()).or_default().clone()
}

fn dictionary_path(args: &ScalarFunctionArgs) -> Result<PathBuf> {
    let path = options(&args.config_options).id_dictionary;
    if path.is_empty() {
        return exec_err!("set persona.id_dictionary to the file that maps text ids to keys");
    }
    Ok(PathBuf::from(path))
}

crate::user_defined_udf!(IdKeyFunc, id_key_udf, Volatility::Volatile, "`id_key`.");
crate::user_defined_udf!(IdTextFunc, id_text_udf, Volatility::Volatile, "`id_text`.");

static KEY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The integer key of a text id, from a dictionary file kept with the project \
         (persona.id_dictionary): a new id gets the next key and keeps it in every later \
         session, so bitmaps can hold text customer ids. NULL stays NULL.",
        "id_key(id)",
    )
    .with_argument("id", "A text id.")
    .with_sql_example("SELECT bitmap_agg(id_key(open_id)) FROM wechat_followers;")
    .build()
});

static TEXT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "The text id of a key given by id_key (NULL for a key the dictionary does not have).",
        "id_text(key)",
    )
    .with_argument("key", "A key from id_key.")
    .with_sql_example("SELECT id_text(customer_id) FROM audience('active_7d');")
    .build()
});

impl ScalarUDFImpl for IdKeyFunc {
    fn name(&self) -> &str {
        "id_key"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if is_text(t) => Ok(vec![DataType::Utf8]),
            [t] => plan_err!("id_key: the id must be text, got {t}"),
            _ => plan_err!("id_key takes 1 argument (id), got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let path = dictionary_path(&args)?;
        let values = args.args[0].to_array(args.number_rows)?;
        let values = cast(&values, &DataType::Utf8)?;
        let ids: Vec<Option<&str>> = values.as_string::<i32>().iter().collect();
        let dict = dictionary(&path);
        let mut dict = dict.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Int64Array = dict.keys(&path, &ids)?.into_iter().collect();
        Ok(ColumnarValue::Array(Arc::new(keys) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&KEY_DOC)
    }
}

impl ScalarUDFImpl for IdTextFunc {
    fn name(&self) -> &str {
        "id_text"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] if t.is_integer() || t.is_null() => Ok(vec![DataType::Int64]),
            [t] => plan_err!("id_text: the key must be an integer, got {t}"),
            _ => plan_err!("id_text takes 1 argument (key), got {}", arg_types.len()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let path = dictionary_path(&args)?;
        let values = args.args[0].to_array(args.number_rows)?;
        let keys: Vec<Option<i64>> = values.as_primitive::<Int64Type>().iter().collect();
        let dict = dictionary(&path);
        let mut dict = dict.lock().unwrap_or_else(|e| e.into_inner());
        let ids: StringArray = dict.ids(&path, &keys)?.into_iter().collect();
        Ok(ColumnarValue::Array(Arc::new(ids)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&TEXT_DOC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_a_new_process_and_a_torn_line() {
        let dir = std::env::temp_dir().join(format!("persona-ids-{}", std::process::id()));
        let path = dir.join("ids.txt");
        let _ = std::fs::remove_dir_all(&dir);
        let mut a = Dictionary::default();
        assert_eq!(
            a.keys(
                &path,
                &[Some("wx:1"), None, Some("line\nbreak"), Some("wx:1")]
            )
            .unwrap(),
            vec![Some(1), None, Some(2), Some(1)]
        );
        // A crash mid-append leaves a line without its newline.
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"torn")
            .unwrap();
        // Another process reads the file afresh.
        let mut b = Dictionary::default();
        assert_eq!(
            b.keys(&path, &[Some("wx:2"), Some("line\nbreak")]).unwrap(),
            vec![Some(3), Some(2)]
        );
        assert_eq!(
            b.ids(&path, &[Some(1), Some(2), Some(3), Some(4)]).unwrap(),
            vec![
                Some("wx:1".into()),
                Some("line\nbreak".into()),
                Some("wx:2".into()),
                None
            ]
        );
        // The first one catches up with what the second appended.
        assert_eq!(a.keys(&path, &[Some("wx:3")]).unwrap(), vec![Some(4)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
