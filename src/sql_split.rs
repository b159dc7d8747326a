//! Splits SQL text into statements at top-level semicolons, keeping the line each statement
//! starts on, so an error in a script or a view file can be reported as `FILE:LINE`.
//!
//! It understands just enough SQL lexing to not split inside quotes or comments:
//! `'…'` (with `''`), `"…"`, `$$…$$` / `$tag$…$tag$`, `-- …` and `/* … */`.

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement without the trailing semicolon, trimmed.
    pub sql: String,
    /// The 1-based line of the statement's first character (comments before it skipped).
    pub line: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Code,
    Single,
    Double,
    LineComment,
    BlockComment,
    Dollar,
}

/// What the scanner reports, with its byte index.
enum Mark {
    /// A top-level `;`.
    Semicolon(usize),
    /// A character of code (not whitespace, not a comment).
    Code(usize),
}

/// Scans `text`, reporting top-level semicolons and code characters; returns the final state.
fn scan(text: &str, mut mark: impl FnMut(Mark)) -> State {
    let bytes = text.as_bytes();
    let mut state = State::Code;
    let mut dollar_tag: &str = "";
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match state {
            State::Code => match b {
                b'\'' => {
                    mark(Mark::Code(i));
                    state = State::Single;
                }
                b'"' => {
                    mark(Mark::Code(i));
                    state = State::Double;
                }
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    state = State::LineComment;
                    i += 1;
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    state = State::BlockComment;
                    i += 1;
                }
                b'$' => {
                    mark(Mark::Code(i));
                    let rest = &text[i + 1..];
                    if let Some(end) = rest.find('$') {
                        let tag = &rest[..end];
                        if tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                            && !tag.starts_with(|c: char| c.is_ascii_digit())
                        {
                            dollar_tag = &text[i..i + end + 2];
                            state = State::Dollar;
                            i += end + 1;
                        }
                    }
                }
                b';' => mark(Mark::Semicolon(i)),
                b if b.is_ascii_whitespace() => {}
                _ => mark(Mark::Code(i)),
            },
            State::Single => {
                if b == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 1;
                    } else {
                        state = State::Code;
                    }
                }
            }
            State::Double => {
                if b == b'"' {
                    state = State::Code;
                }
            }
            State::LineComment => {
                if b == b'\n' {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if b == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    state = State::Code;
                    i += 1;
                }
            }
            State::Dollar => {
                if text[i..].starts_with(dollar_tag) {
                    i += dollar_tag.len() - 1;
                    state = State::Code;
                }
            }
        }
        i += 1;
    }
    state
}

/// Splits `text` into statements; empty statements (`;;`, comments only) are dropped.
pub fn split_statements(text: &str) -> Vec<Statement> {
    let mut cuts = Vec::new();
    let mut starts: Vec<Option<usize>> = vec![None];
    scan(text, |m| match m {
        Mark::Semicolon(i) => {
            cuts.push(i);
            starts.push(None);
        }
        Mark::Code(i) => {
            let last = starts.last_mut().expect("one piece is always open");
            if last.is_none() {
                *last = Some(i);
            }
        }
    });
    let mut out = Vec::new();
    for (k, start) in starts.into_iter().enumerate() {
        let end = cuts.get(k).copied().unwrap_or(text.len());
        if let Some(start) = start {
            let sql = text[start..end].trim_end().to_string();
            let line = text[..start].matches('\n').count() + 1;
            out.push(Statement { sql, line });
        }
    }
    out
}

/// Whether `text` ends a statement: its last code character is a top-level `;`. The shell
/// keeps reading lines until this holds.
pub fn ends_statement(text: &str) -> bool {
    let mut last_semicolon = None;
    let mut last_code = None;
    let state = scan(text, |m| match m {
        Mark::Semicolon(i) => last_semicolon = Some(i),
        Mark::Code(i) => last_code = Some(i),
    });
    matches!(state, State::Code | State::LineComment)
        && last_semicolon.is_some()
        && last_semicolon > last_code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_point_at_each_statement_not_at_comments_before_it() {
        let s = split_statements("-- header\nSELECT 1;\n\n/* c */ SELECT\n 2;\nSELECT 3");
        let got: Vec<_> = s.iter().map(|s| (s.sql.as_str(), s.line)).collect();
        assert_eq!(
            got,
            vec![("SELECT 1", 2), ("SELECT\n 2", 4), ("SELECT 3", 6)]
        );
    }

    #[test]
    fn semicolons_inside_quotes_and_comments_do_not_split() {
        let s =
            split_statements("SELECT 'a;b', \"c;d\" -- e;f\n; SELECT $$ g; $$; SELECT 'it''s;';");
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[2].sql, "SELECT 'it''s;'");
    }

    #[test]
    fn empty_statements_are_dropped() {
        assert!(split_statements(";; -- only a comment\n").is_empty());
    }

    #[test]
    fn a_statement_ends_only_at_a_top_level_semicolon() {
        assert!(ends_statement("SELECT 1;"));
        assert!(ends_statement("SELECT 1; -- done"));
        assert!(!ends_statement("SELECT 1"));
        assert!(!ends_statement("SELECT ';"));
        assert!(!ends_statement("SELECT 1; SELECT 2"));
        assert!(!ends_statement("/* ; */"));
    }
}
