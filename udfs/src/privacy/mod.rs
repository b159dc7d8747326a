//! Privacy: masks for showing personal data to people who should not see all of it
//! (`mask_phone`, `mask_email`, `mask_name`), and keyed pseudonyms (`pseudonymize`) that
//! keep joins working across tables without revealing the value.
//!
//! The masks keep the shape people recognise (`138****5678`, `z***@example.com`, `张**`) and
//! never more than that: a value too short to keep anything is masked whole. NULL stays NULL.
//! Text is Utf8, LargeUtf8 or Utf8View; the result is Utf8.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};

use crate::args::is_text;
use crate::text::for_each_text;

pub mod hmac;

/// Where these functions are listed in the documentation.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "Privacy",
    description: Some("Masks and keyed pseudonyms for personal data."),
};

/// The scalar functions of this family.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    [Kind::Phone, Kind::Email, Kind::Name, Kind::Pseudonym]
        .into_iter()
        .map(|kind| Arc::new(ScalarUDF::new_from_impl(PrivacyFunc::new(kind))))
        .collect()
}

/// Which function a [`PrivacyFunc`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Phone,
    Email,
    Name,
    Pseudonym,
}

/// The four privacy functions: one implementation, told apart by their kind.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PrivacyFunc {
    kind: Kind,
    signature: Signature,
    doc: Documentation,
}

impl PrivacyFunc {
    fn new(kind: Kind) -> Self {
        let doc = match kind {
            Kind::Phone => Documentation::builder(
                DOC_SECTION,
                "A phone number with its middle digits masked: the first 3 and last 4 digits of \
                 the national number stay (a +86 or 0086 country code is dropped, other country \
                 codes stay in front). Numbers of fewer than 8 digits keep only their last 2.",
                "mask_phone(phone)",
            )
            .with_argument("phone", "A phone number in any spelling.")
            .with_sql_example("SELECT mask_phone('+86 138-1234-5678');\n-- 138****5678"),
            Kind::Email => Documentation::builder(
                DOC_SECTION,
                "An e-mail address with its local part masked to its first character and *** \
                 (the domain stays, so mail providers can still be counted). Text without an @ \
                 is masked whole.",
                "mask_email(email)",
            )
            .with_argument("email", "An e-mail address.")
            .with_sql_example("SELECT mask_email('zhang.wei@example.com');\n-- z***@example.com"),
            Kind::Name => Documentation::builder(
                DOC_SECTION,
                "A name with all but its first character masked, one * per character: a Chinese \
                 name keeps its surname, a name in Latin letters the initial of each word.",
                "mask_name(name)",
            )
            .with_argument("name", "A person's name.")
            .with_sql_example(
                "SELECT mask_name('张三丰'), mask_name('Anna Martin');\n-- 张**, A*** M*****",
            ),
            Kind::Pseudonym => Documentation::builder(
                DOC_SECTION,
                "A keyed pseudonym: HMAC-SHA256 of the value under the key, as 64 hex digits. \
                 The same value and key always give the same pseudonym, so pseudonymised \
                 tables still join; without the key it cannot be reversed or recomputed.",
                "pseudonymize(value, key)",
            )
            .with_argument(
                "value",
                "The text to pseudonymise (cast other types to text).",
            )
            .with_argument("key", "The secret key.")
            .with_sql_example("SELECT pseudonymize(phone, 'secret') AS person FROM customers;"),
        };
        Self {
            kind,
            signature: Signature::user_defined(Volatility::Immutable),
            doc: doc.build(),
        }
    }
}

impl ScalarUDFImpl for PrivacyFunc {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Phone => "mask_phone",
            Kind::Email => "mask_email",
            Kind::Name => "mask_name",
            Kind::Pseudonym => "pseudonymize",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let want = if self.kind == Kind::Pseudonym { 2 } else { 1 };
        if arg_types.len() == want && arg_types.iter().all(is_text) {
            return Ok(arg_types
                .iter()
                .map(|t| {
                    if t.is_null() {
                        DataType::Utf8
                    } else {
                        t.clone()
                    }
                })
                .collect());
        }
        match self.kind {
            Kind::Pseudonym => plan_err!("pseudonymize takes a text value and a text key"),
            _ => plan_err!("{} takes one text argument", self.name()),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays: Vec<ArrayRef> = crate::args::arrays(&args.args, args.number_rows)?;
        let mut out = StringBuilder::with_capacity(args.number_rows, args.number_rows * 16);
        match self.kind {
            Kind::Pseudonym => {
                let mut keys = Vec::with_capacity(args.number_rows);
                for_each_text(&arrays[1], |k| keys.push(k.map(str::to_owned)))?;
                let mut i = 0;
                // One keyed hasher per distinct key run: the key is almost always a constant.
                let mut cached: Option<(String, hmac::HmacSha256)> = None;
                for_each_text(&arrays[0], |v| {
                    let key = keys[i].as_deref();
                    i += 1;
                    match (v, key) {
                        (Some(v), Some(k)) => {
                            if cached.as_ref().is_none_or(|(ck, _)| ck != k) {
                                cached = Some((k.to_string(), hmac::HmacSha256::new(k.as_bytes())));
                            }
                            let mac = cached.as_ref().expect("set above").1.mac(v.as_bytes());
                            out.append_value(hex(&mac));
                        }
                        _ => out.append_null(),
                    }
                })?;
            }
            kind => for_each_text(&arrays[0], |v| match v {
                Some(v) => out.append_value(match kind {
                    Kind::Phone => mask_phone(v),
                    Kind::Email => mask_email(v),
                    _ => mask_name(v),
                }),
                None => out.append_null(),
            })?,
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// `+86 138-1234-5678` → `138****5678`; `+1 415 555 2671` → `+1 415***2671`.
pub fn mask_phone(text: &str) -> String {
    // Full-width digits (１３８…) are digits too.
    let digits: String = text
        .chars()
        .map(crate::text::fold_width)
        .filter(char::is_ascii_digit)
        .collect();
    let trimmed = text.trim_start();
    let international =
        trimmed.starts_with('+') || trimmed.starts_with('＋') || digits.starts_with("00");
    let digits = digits.strip_prefix("00").unwrap_or(&digits);
    let (prefix, national) = if international {
        match digits.strip_prefix("86") {
            Some(rest) => (String::new(), rest),
            // Country codes are 1 to 3 digits; the national number is what follows. Without
            // a numbering plan the split is a guess, so keep only the shortest plausible code.
            None => {
                let cc = if digits.starts_with('1') || digits.starts_with('7') {
                    1
                } else {
                    2
                };
                let cc = cc.min(digits.len());
                (format!("+{} ", &digits[..cc]), &digits[cc..])
            }
        }
    } else {
        (String::new(), digits)
    };
    let n = national.len();
    if n >= 8 {
        format!(
            "{prefix}{}{}{}",
            &national[..3],
            "*".repeat(n - 7),
            &national[n - 4..]
        )
    } else if n >= 3 {
        format!("{prefix}{}{}", "*".repeat(n - 2), &national[n - 2..])
    } else {
        "*".repeat(n.max(1))
    }
}

/// `zhang.wei@example.com` → `z***@example.com`.
pub fn mask_email(text: &str) -> String {
    let t = text.trim();
    match t.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            let first = local.chars().next().expect("not empty");
            format!("{first}***@{domain}")
        }
        _ => "***".to_string(),
    }
}

/// `张三丰` → `张**`; `Anna Martin` → `A*** M*****`.
pub fn mask_name(text: &str) -> String {
    let t = text.trim();
    let han = t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
    let mut out = String::with_capacity(t.len());
    if han {
        let mut chars = t.chars().filter(|c| !c.is_whitespace());
        if let Some(first) = chars.next() {
            out.push(first);
        }
        out.extend(chars.map(|_| '*'));
        if out.chars().count() == 1 {
            // A one-character name would stay whole; its length is all that shows.
            out = "*".to_string();
        }
        return out;
    }
    for (i, word) in t.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first);
        }
        out.extend(chars.map(|_| '*'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_three_and_four_digits() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("+8613812345678"), "138****5678");
        assert_eq!(mask_phone("0086 138-1234-5678"), "138****5678");
        assert_eq!(mask_phone("＋８６ １３８１２３４５６７８"), "138****5678");
        assert_eq!(mask_phone("010-62345678"), "010****5678");
        assert_eq!(mask_phone("+1 415 555 2671"), "+1 415***2671");
        assert_eq!(mask_phone("12345"), "***45");
        assert_eq!(mask_phone("no phone"), "*");
    }

    #[test]
    fn emails_and_names() {
        assert_eq!(mask_email(" Zhang.Wei@Example.com "), "Z***@Example.com");
        assert_eq!(mask_email("not an email"), "***");
        assert_eq!(mask_email("@x.com"), "***");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(mask_name("Anna Martin"), "A*** M*****");
    }
}
