//! The shell's meta-commands: `\d`, `\dt`, … with DuckDB's dot spellings (`.tables`, …).
//! The table of commands feeds both parsing and `\?`.

use std::str::FromStr;

/// A parsed meta-command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Quit,
    /// `\d`: every table and view; `\d name`: one relation's columns.
    Describe(Option<String>),
    ListTables,
    ListViews,
    ListFunctions(Option<String>),
    HelpFunction(String),
    /// `\timing [on|off]`; no argument toggles.
    Timing(Option<bool>),
    /// `\format [name]`; no argument shows the current one.
    Format(Option<String>),
    /// `\o [file]`; no argument goes back to the screen.
    Output(Option<String>),
    Include(String),
    /// `\x [on|off]`; no argument toggles.
    Expanded(Option<bool>),
    /// `\chart bar|line`: the last result as a terminal chart.
    Chart(super::chart::Kind),
}

/// `(spellings, arguments, description)` for `\?`.
pub const COMMANDS: &[(&[&str], &str, &str)] = &[
    (&["\\?", ".help"], "", "show this help"),
    (&["\\q", ".quit", ".exit"], "", "quit (Ctrl-D works too)"),
    (
        &["\\d", ".schema"],
        "[name]",
        "list tables and views, or describe one",
    ),
    (&["\\dt", ".tables"], "", "list tables"),
    (&["\\dv"], "", "list views"),
    (
        &["\\df"],
        "[pattern]",
        "list functions (persona's and built-in)",
    ),
    (&["\\h"], "name", "help on a function"),
    (
        &["\\timing", ".timer"],
        "[on|off]",
        "show how long each query takes",
    ),
    (
        &["\\format", ".mode"],
        "[table|csv|tsv|json|ndjson|markdown]",
        "set the result format",
    ),
    (
        &["\\o", ".output"],
        "[file]",
        "send results to a file; no file: back to the screen",
    ),
    (
        &["\\i", ".read"],
        "file",
        "run the statements of a SQL file",
    ),
    (&["\\x"], "[on|off]", "expanded rows: one field per line"),
    (
        &["\\chart"],
        "bar|line",
        "draw the last result: labels from its first column, values from its first numeric one",
    ),
];

/// Every spelling, for completion.
pub fn spellings() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .flat_map(|(names, _, _)| names.iter().copied())
}

/// The `\?` text.
pub fn help() -> String {
    let mut out = String::from(
        "Statements end with ';' and may span lines. Ctrl-C cancels a running query.\n\n",
    );
    for (names, args, desc) in COMMANDS {
        let spell = format!("{} {}", names.join(", "), args);
        out.push_str(&format!("  {spell:<52} {desc}\n"));
    }
    out
}

fn on_off(arg: Option<&str>, name: &str) -> Result<Option<bool>, String> {
    match arg.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("on") | Some("true") | Some("1") => Ok(Some(true)),
        Some("off") | Some("false") | Some("0") => Ok(Some(false)),
        Some(other) => Err(format!("{name} takes 'on' or 'off', got '{other}'")),
    }
}

impl FromStr for Command {
    type Err = String;

    fn from_str(line: &str) -> Result<Self, Self::Err> {
        let line = line.trim().trim_end_matches(';').trim();
        let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let arg = Some(rest.trim())
            .filter(|a| !a.is_empty())
            .map(|a| unquote(a).to_string());
        let need = |what: &str| arg.clone().ok_or_else(|| format!("{name} needs {what}"));
        Ok(match name {
            "\\?" | ".help" | "\\help" => Command::Help,
            "\\q" | "\\quit" | ".quit" | ".exit" => Command::Quit,
            "\\d" | ".schema" => Command::Describe(arg),
            "\\dt" | ".tables" => Command::ListTables,
            "\\dv" => Command::ListViews,
            "\\df" => Command::ListFunctions(arg),
            "\\h" => Command::HelpFunction(need("a function name, e.g. \\h as_of")?),
            "\\timing" | ".timer" => Command::Timing(on_off(arg.as_deref(), name)?),
            "\\format" | ".mode" => Command::Format(arg),
            "\\o" | ".output" => Command::Output(arg),
            "\\i" | ".read" => Command::Include(need("a file")?),
            "\\x" => Command::Expanded(on_off(arg.as_deref(), name)?),
            "\\chart" => Command::Chart(super::chart::Kind::parse(&need("bar or line")?)?),
            _ => return Err(format!("unknown command '{name}'; \\? lists the commands")),
        })
    }
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    for q in ['\'', '"'] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backslash_and_dot_spellings_agree() {
        assert_eq!(
            "\\d customers".parse(),
            Ok(Command::Describe(Some("customers".into())))
        );
        assert_eq!(
            ".schema customers".parse(),
            Ok(Command::Describe(Some("customers".into())))
        );
        assert_eq!(".tables".parse(), Ok(Command::ListTables));
        assert_eq!(".mode csv".parse(), Ok(Command::Format(Some("csv".into()))));
        assert_eq!("\\timing off".parse(), Ok(Command::Timing(Some(false))));
        assert_eq!(
            ".read 'my file.sql'".parse(),
            Ok(Command::Include("my file.sql".into()))
        );
    }

    #[test]
    fn unknown_and_incomplete_commands_say_what_to_do() {
        assert_eq!(
            "\\zz".parse::<Command>(),
            Err("unknown command '\\zz'; \\? lists the commands".into())
        );
        assert_eq!("\\i".parse::<Command>(), Err("\\i needs a file".into()));
        assert_eq!(
            "\\x maybe".parse::<Command>(),
            Err("\\x takes 'on' or 'off', got 'maybe'".into())
        );
    }

    #[test]
    fn help_lists_every_spelling() {
        let h = help();
        for s in spellings() {
            assert!(h.contains(s), "{s} missing from help");
        }
    }
}
