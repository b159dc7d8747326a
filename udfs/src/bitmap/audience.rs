//! Tag expressions: `audience('(高价值客户 & active_30d) - churn_risk:高')` returns the
//! customers the expression selects, and the aggregate `audience_bitmap(expr, tag, value,
//! bitmap)` returns them as a bitmap (for counts that need no list of ids).
//!
//! Grammar: names joined by `&` (in both), `|` (in either), `^` (in exactly one) and `-` (in
//! the left, not the right), with parentheses. `&` binds tighter than the other three, which
//! are equal and left-associative. A name is a run of letters, digits, `_`, `.`, `:` and any
//! non-ASCII character, or any text in double quotes. A name is resolved against the rows of
//! `tag_bitmaps`: `tag:value` is that value of that tag; a bare name is a tag (all its values)
//! or a value that exactly one tag has.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryBuilder, ListArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Result, ScalarValue, exec_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDFImpl, Documentation, Expr, Signature};
use roaring::RoaringTreemap;

use super::{DOC_SECTION, binaries, coerce_bitmap, decode, encode};
use crate::behavior::events::literal_text;

/// A parsed tag expression.
#[derive(Debug, Clone, PartialEq)]
pub enum TagExpr {
    /// A name and its 1-based character position in the expression.
    Name(String, usize),
    And(Box<TagExpr>, Box<TagExpr>),
    Or(Box<TagExpr>, Box<TagExpr>),
    Xor(Box<TagExpr>, Box<TagExpr>),
    AndNot(Box<TagExpr>, Box<TagExpr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Name(String),
    Op(char),
    Open,
    Close,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == ':' || !c.is_ascii()
}

fn tokens(text: &str) -> Result<Vec<(Token, usize)>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let pos = i + 1;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push((Token::Open, pos));
                i += 1;
            }
            ')' => {
                out.push((Token::Close, pos));
                i += 1;
            }
            '&' | '|' | '^' | '-' => {
                out.push((Token::Op(c), pos));
                i += 1;
            }
            '"' => {
                let start = i + 1;
                let Some(len) = chars[start..].iter().position(|&c| c == '"') else {
                    return plan_err!(
                        "audience: the quote opened at position {pos} of '{text}' is not closed"
                    );
                };
                out.push((Token::Name(chars[start..start + len].iter().collect()), pos));
                i = start + len + 1;
            }
            c if is_name_char(c) => {
                let start = i;
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
                out.push((Token::Name(chars[start..i].iter().collect()), pos));
            }
            c => {
                return plan_err!(
                    "audience: unexpected '{c}' at position {pos} of '{text}' (quote names with other characters in double quotes)"
                );
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    next: usize,
}

impl Parser<'_> {
    fn end_position(&self) -> usize {
        self.text.chars().count() + 1
    }

    fn peek(&self) -> Option<&(Token, usize)> {
        self.tokens.get(self.next)
    }

    /// expr := term (('|' | '^' | '-') term)*
    fn expr(&mut self) -> Result<TagExpr> {
        let mut left = self.term()?;
        while let Some((Token::Op(op @ ('|' | '^' | '-')), _)) = self.peek() {
            let op = *op;
            self.next += 1;
            let right = Box::new(self.term()?);
            let l = Box::new(left);
            left = match op {
                '|' => TagExpr::Or(l, right),
                '^' => TagExpr::Xor(l, right),
                _ => TagExpr::AndNot(l, right),
            };
        }
        Ok(left)
    }

    /// term := atom ('&' atom)*
    fn term(&mut self) -> Result<TagExpr> {
        let mut left = self.atom()?;
        while let Some((Token::Op('&'), _)) = self.peek() {
            self.next += 1;
            left = TagExpr::And(Box::new(left), Box::new(self.atom()?));
        }
        Ok(left)
    }

    /// atom := name | '(' expr ')'
    fn atom(&mut self) -> Result<TagExpr> {
        let text = self.text;
        match self.peek().cloned() {
            Some((Token::Name(n), pos)) => {
                self.next += 1;
                Ok(TagExpr::Name(n, pos))
            }
            Some((Token::Open, pos)) => {
                self.next += 1;
                let inner = self.expr()?;
                match self.peek() {
                    Some((Token::Close, _)) => {
                        self.next += 1;
                        Ok(inner)
                    }
                    Some((_, p)) => plan_err!(
                        "audience: expected ')' at position {p} of '{text}' to close the '(' at position {pos}"
                    ),
                    None => {
                        plan_err!("audience: the '(' at position {pos} of '{text}' is not closed")
                    }
                }
            }
            Some((t, pos)) => {
                let found = match t {
                    Token::Op(c) => format!("'{c}'"),
                    Token::Close => "')'".to_string(),
                    _ => "something else".to_string(),
                };
                plan_err!(
                    "audience: expected a tag name or '(' at position {pos} of '{text}', found {found}"
                )
            }
            None => plan_err!(
                "audience: expected a tag name or '(' at position {} of '{text}' (the expression ends too early)",
                self.end_position()
            ),
        }
    }
}

/// Parses a tag expression; errors give the 1-based character position.
pub fn parse(text: &str) -> Result<TagExpr> {
    let tokens = tokens(text)?;
    if tokens.is_empty() {
        return plan_err!("audience: the tag expression is empty");
    }
    let mut p = Parser {
        text,
        tokens,
        next: 0,
    };
    let e = p.expr()?;
    if let Some((_, pos)) = p.peek() {
        return plan_err!(
            "audience: unexpected text at position {pos} of '{text}' (expected an operator &, |, ^ or -)"
        );
    }
    Ok(e)
}

impl TagExpr {
    fn names<'a>(&'a self, out: &mut Vec<(&'a str, usize)>) {
        match self {
            TagExpr::Name(n, p) => out.push((n, *p)),
            TagExpr::And(a, b) | TagExpr::Or(a, b) | TagExpr::Xor(a, b) | TagExpr::AndNot(a, b) => {
                a.names(out);
                b.names(out);
            }
        }
    }

    fn eval(
        &self,
        lookup: &dyn Fn(&str, usize) -> Result<RoaringTreemap>,
    ) -> Result<RoaringTreemap> {
        Ok(match self {
            TagExpr::Name(n, p) => lookup(n, *p)?,
            TagExpr::And(a, b) => a.eval(lookup)? & b.eval(lookup)?,
            TagExpr::Or(a, b) => a.eval(lookup)? | b.eval(lookup)?,
            TagExpr::Xor(a, b) => a.eval(lookup)? ^ b.eval(lookup)?,
            TagExpr::AndNot(a, b) => a.eval(lookup)? - b.eval(lookup)?,
        })
    }
}

crate::user_defined_udaf!(
    AudienceBitmapFunc,
    audience_bitmap_udaf,
    "`audience_bitmap`."
);

static DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Aggregate over rows of (tag, value, bitmap), such as tag_bitmaps: the customers a tag \
         expression selects, as a bitmap. Names join with & (in both), | (in either), ^ (in \
         exactly one) and - (in the left, not the right), with parentheses; & binds tighter than \
         the others, which are left-associative. A name is tag:value, a tag (any of its values), \
         or a value only one tag has; quote other names in double quotes. An unknown or \
         ambiguous name is an error giving its position.",
        "audience_bitmap(expression, tag, value, bitmap)",
    )
    .with_argument("expression", "The tag expression, a string constant.")
    .with_argument("tag", "The tag column.")
    .with_argument("value", "The value column (NULL: the tag has no values).")
    .with_argument("bitmap", "The bitmap column.")
    .with_sql_example(
        "SELECT bitmap_count(audience_bitmap('(高价值客户 & active_30d) - churn_risk:高', tag, value, bitmap))\nFROM tag_bitmaps;",
    )
    .build()
});

impl AggregateUDFImpl for AudienceBitmapFunc {
    fn name(&self) -> &str {
        "audience_bitmap"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 4 {
            return plan_err!(
                "audience_bitmap takes 4 arguments (expression, tag, value, bitmap), got {}",
                arg_types.len()
            );
        }
        Ok(vec![
            DataType::Utf8,
            DataType::Utf8,
            DataType::Utf8,
            coerce_bitmap("audience_bitmap", 4, &arg_types[3])?,
        ])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, t: DataType| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::new_list(t, true),
                true,
            ))
        };
        Ok(vec![
            list("tags", DataType::Utf8),
            list("values", DataType::Utf8),
            list("bitmaps", DataType::Binary),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let Some(text) = literal_text("audience_bitmap", "the expression", &args.exprs[0])? else {
            return plan_err!("audience_bitmap: the expression must not be NULL");
        };
        let expr = parse(&text)?;
        let mut names = Vec::new();
        expr.names(&mut names);
        let wanted = names.iter().map(|(n, _)| n.to_string()).collect();
        Ok(Box::new(AudienceAccumulator {
            expr,
            wanted,
            rows: BTreeMap::new(),
        }))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOC)
    }
}

/// Every (tag, value) seen, with the bitmap kept only where the expression may use it.
#[derive(Debug)]
struct AudienceAccumulator {
    expr: TagExpr,
    wanted: BTreeSet<String>,
    rows: BTreeMap<(String, String), Option<RoaringTreemap>>,
}

impl AudienceAccumulator {
    fn wants(&self, tag: &str, value: &str) -> bool {
        self.wanted.contains(tag)
            || self.wanted.contains(value)
            || self.wanted.contains(&format!("{tag}:{value}"))
    }

    fn add(&mut self, tag: &str, value: &str, bitmap: Option<&[u8]>) -> Result<()> {
        let keep = self.wants(tag, value);
        let entry = self
            .rows
            .entry((tag.to_string(), value.to_string()))
            .or_default();
        if keep && let Some(bytes) = bitmap {
            *entry.get_or_insert_with(RoaringTreemap::new) |= decode("audience", bytes)?;
        }
        Ok(())
    }

    fn add_arrays(&mut self, tags: &ArrayRef, values: &ArrayRef, bitmaps: &ArrayRef) -> Result<()> {
        let tags = cast(tags, &DataType::Utf8)?;
        let values = cast(values, &DataType::Utf8)?;
        let (tags, values) = (tags.as_string::<i32>(), values.as_string::<i32>());
        let bitmaps = binaries("audience", bitmaps)?;
        for row in 0..tags.len() {
            if tags.is_null(row) {
                continue;
            }
            let value = if values.is_null(row) {
                ""
            } else {
                values.value(row)
            };
            let bitmap = bitmaps.is_valid(row).then(|| bitmaps.value(row));
            self.add(tags.value(row), value, bitmap)?;
        }
        Ok(())
    }

    fn resolve(&self, name: &str, pos: usize) -> Result<RoaringTreemap> {
        let union = |keys: &[&(String, String)]| {
            let mut out = RoaringTreemap::new();
            for k in keys {
                if let Some(Some(b)) = self.rows.get(*k) {
                    out |= b;
                }
            }
            out
        };
        if let Some((tag, value)) = name.split_once(':')
            && self
                .rows
                .contains_key(&(tag.to_string(), value.to_string()))
        {
            return Ok(union(&[&(tag.to_string(), value.to_string())]));
        }
        let of_tag: Vec<&(String, String)> = self.rows.keys().filter(|(t, _)| t == name).collect();
        let with_value: Vec<&(String, String)> =
            self.rows.keys().filter(|(_, v)| v == name).collect();
        match (of_tag.is_empty(), with_value.len()) {
            (false, 0) => Ok(union(&of_tag)),
            (true, 1) => Ok(union(&with_value)),
            (true, 0) => exec_err!(
                "audience: unknown tag '{name}' at position {pos}: no tag or tag value has that name (see tag_bitmaps)"
            ),
            _ => {
                let tags: Vec<String> = with_value
                    .iter()
                    .map(|(t, v)| format!("{t}:{v}"))
                    .chain((!of_tag.is_empty()).then(|| format!("the tag {name}")))
                    .collect();
                exec_err!(
                    "audience: '{name}' at position {pos} is ambiguous: it could be {}; write tag:value",
                    tags.join(", ")
                )
            }
        }
    }
}

impl Accumulator for AudienceAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add_arrays(&values[1], &values[2], &values[3])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let bitmap = self.expr.eval(&|n, p| self.resolve(n, p))?;
        Ok(ScalarValue::Binary(Some(encode(&bitmap))))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .rows
                .iter()
                .map(|((t, v), b)| {
                    t.len() + v.len() + b.as_ref().map_or(0, |b| b.serialized_size())
                })
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut tags = StringBuilder::new();
        let mut values = StringBuilder::new();
        let mut bitmaps = BinaryBuilder::new();
        for ((t, v), b) in &self.rows {
            tags.append_value(t);
            values.append_value(v);
            match b {
                Some(b) => bitmaps.append_value(encode(b)),
                None => bitmaps.append_null(),
            }
        }
        let one = |a: ArrayRef| ScalarValue::List(Arc::new(single_list(a)));
        Ok(vec![
            one(Arc::new(tags.finish())),
            one(Arc::new(values.finish())),
            one(Arc::new(bitmaps.finish())),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states.iter().map(|s| s.as_list::<i32>()).collect();
        for row in 0..lists[0].len() {
            if lists[0].is_null(row) {
                continue;
            }
            let (t, v, b) = (
                lists[0].value(row),
                lists[1].value(row),
                lists[2].value(row),
            );
            self.add_arrays(&t, &v, &b)?;
        }
        Ok(())
    }
}

/// A list array of one value: the whole of `values`.
fn single_list(values: ArrayRef) -> ListArray {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    ListArray::new(
        field,
        datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
        values,
        None,
    )
}

/// The table function `audience(expression [, bitmaps_table])`.
#[derive(Debug)]
pub struct AudienceFunc;

/// Documentation of the table function.
pub static AUDIENCE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION,
        "Table function: the customer ids (customer_id BIGINT, ascending) a tag expression \
         selects, evaluated over tag_bitmaps or another table of (tag, value, bitmap). The \
         expression is checked when the query is planned; see audience_bitmap for its grammar. \
         Export an audience with -o audience.csv.",
        "audience(expression [, bitmaps_table])",
    )
    .with_argument("expression", "The tag expression, such as '(高价值客户 & active_30d) - churn_risk:高'.")
    .with_argument("bitmaps_table", "A table or view of (tag, value, bitmap); tag_bitmaps by default.")
    .with_sql_example(
        "SELECT count(*) FROM audience('高价值客户 & active_30d');\nSELECT c.* FROM audience('流失风险客户 - active_7d') a JOIN customer_360 c USING (customer_id);",
    )
    .build()
});

fn constant_arg(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

impl TableFunctionImpl for AudienceFunc {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if !(1..=2).contains(&exprs.len()) {
            return plan_err!(
                "audience takes 1 or 2 arguments (expression [, bitmaps_table]), got {}",
                exprs.len()
            );
        }
        let Some(text) = constant_arg(&exprs[0]) else {
            return plan_err!("audience: the expression must be a string");
        };
        parse(&text)?;
        let table = match exprs.get(1) {
            None => "tag_bitmaps".to_string(),
            Some(e) => match constant_arg(e) {
                Some(t) => datafusion::common::TableReference::from(t.as_str()).to_quoted_string(),
                None => return plan_err!("audience: the bitmaps table must be a string"),
            },
        };
        let quoted = text.replace('\'', "''");
        let sql = format!(
            "SELECT CAST(id AS BIGINT) AS customer_id FROM (\
             SELECT unnest(bitmap_to_array(audience_bitmap('{quoted}', tag, value, bitmap))) AS id \
             FROM {table})"
        );
        let state = args
            .session()
            .as_any()
            .downcast_ref::<datafusion::execution::SessionState>()
            .ok_or_else(|| plan_datafusion_err!("audience needs a DataFusion session"))?;
        let plan = futures::executor::block_on(state.create_logical_plan(&sql)).map_err(|e| {
            let cause = e.strip_backtrace();
            let cause = cause
                .strip_prefix("Error during planning: ")
                .unwrap_or(&cause)
                .to_string();
            plan_datafusion_err!("audience over {table}: {cause}")
        })?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql))))
    }
}
