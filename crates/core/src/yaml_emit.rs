//! The YAML emitter: values back to text, in the bytes `kustomize build` prints.
//!
//! kustomize prints each resource through `sigs.k8s.io/yaml.JSONToYAML`, that is the go-yaml v2
//! emitter (a libyaml port) over a plain map: keys in go-yaml's "natural" order, block style,
//! two-space indentation, sequences not indented under their key, plain scalars where YAML 1.1
//! would read them back as the same string, then single quotes, then double quotes; strings
//! with line breaks as literal blocks; plain and quoted scalars folded at column 80. This module
//! reproduces that emitter's decisions (`yaml_emitter_analyze_scalar`,
//! `yaml_emitter_select_scalar_style` and the scalar writers) so users see the same bytes.
//! Kept apart from the loader in [`crate::yaml`] so each can change on its own.

use std::cmp::Ordering;

use serde_json::Value;

use scalar::{number, resolves_as_string};

mod scalar;
#[cfg(test)]
mod tests;

/// go-yaml's preferred line width: plain and quoted scalars are folded past this column.
const BEST_WIDTH: usize = 80;
/// go-yaml's indentation step.
const INDENT: usize = 2;

/// Serializes one value as a YAML document (no leading `---`), keys sorted as kustomize
/// sorts them.
pub fn to_yaml(value: &Value) -> String {
    let mut e = Emitter::default();
    match value {
        Value::Object(m) if !m.is_empty() => e.mapping(m, 0),
        Value::Array(a) if !a.is_empty() => e.sequence(a, 0),
        other => {
            e.scalar(other, 0, false);
            e.newline();
        }
    }
    e.out
}

/// Serializes values as a `---`-separated stream, the way `kustomize build` prints.
pub fn to_yaml_stream<'a>(values: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(v));
    }
    out
}

/// go-yaml v2's map key order (`keyList.Less`): letters compare as runes, a non-letter sorts
/// before a letter, and runs of digits compare as numbers.
pub fn key_order(a: &str, b: &str) -> Ordering {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            // A leading zero after other digits still counts as part of the number.
            if ar[..i]
                .iter()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .any(|&c| c != '0')
            {
                an = 1;
                bn = 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

#[derive(Default)]
struct Emitter {
    out: String,
    /// Characters written on the current line.
    column: usize,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// Starts a new line at `indent` unless the cursor already sits there on a fresh line.
    fn indent_to(&mut self, indent: usize) {
        if self.column > indent || (self.column > 0 && self.column != indent) {
            self.newline();
        }
        while self.column < indent {
            self.out.push(' ');
            self.column += 1;
        }
    }

    fn mapping(&mut self, m: &serde_json::Map<String, Value>, indent: usize) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort_by(|a, b| key_order(a, b));
        for (i, k) in keys.into_iter().enumerate() {
            // The first key of a mapping inside a sequence item shares the `- ` line.
            if i > 0 || self.column != indent {
                self.indent_to(indent);
            }
            self.string(k, indent, true);
            self.put(":");
            self.value(&m[k.as_str()], indent);
        }
    }

    fn sequence(&mut self, a: &[Value], indent: usize) {
        for (i, v) in a.iter().enumerate() {
            if i > 0 || self.column != indent {
                self.indent_to(indent);
            }
            self.put("- ");
            match v {
                Value::Object(m) if !m.is_empty() => self.mapping(m, indent + INDENT),
                Value::Array(a) if !a.is_empty() => self.sequence(a, indent + INDENT),
                other => {
                    self.scalar(other, indent + INDENT, false);
                    self.newline();
                }
            }
        }
    }

    /// A mapping value after `key:`. Block sequences stay at the key's indentation.
    fn value(&mut self, v: &Value, indent: usize) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                self.newline();
                self.mapping(m, indent + INDENT);
            }
            Value::Array(a) if !a.is_empty() => {
                self.newline();
                self.sequence(a, indent);
            }
            other => {
                self.put(" ");
                self.scalar(other, indent + INDENT, false);
                self.newline();
            }
        }
    }

    /// A scalar (or an empty collection, which go-yaml writes in flow style); `indent` is
    /// where folded and block-scalar lines continue.
    fn scalar(&mut self, v: &Value, indent: usize, simple_key: bool) {
        match v {
            Value::Null => self.put("null"),
            Value::Bool(b) => self.put(if *b { "true" } else { "false" }),
            Value::Number(n) => self.put(&number(n)),
            Value::String(s) => self.string(s, indent, simple_key),
            Value::Array(_) => self.put("[]"),
            Value::Object(_) => self.put("{}"),
        }
    }

    fn string(&mut self, s: &str, indent: usize, simple_key: bool) {
        let a = analyze(s);
        let style = if s.contains('\n') {
            Style::Literal
        } else if resolves_as_string(s) {
            Style::Plain
        } else {
            Style::Double
        };
        let style = match style {
            Style::Plain if simple_key && a.multiline => Style::Double,
            Style::Plain if !a.block_plain_allowed || (s.is_empty() && simple_key) => {
                if a.single_quoted_allowed {
                    Style::Single
                } else {
                    Style::Double
                }
            }
            Style::Literal if !a.block_allowed || simple_key => Style::Double,
            other => other,
        };
        let breaks = !simple_key;
        match style {
            Style::Plain => self.plain(s, indent, breaks),
            Style::Single => self.single_quoted(s, indent, breaks),
            Style::Double => self.double_quoted(s, indent, breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn fold(&mut self, indent: usize) {
        self.newline();
        self.put(&" ".repeat(indent));
    }

    fn plain(&mut self, s: &str, indent: usize, breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if breaks && !spaces && self.column > BEST_WIDTH && !next_space {
                    self.fold(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let next_space = chars.get(i + 1) == Some(&' ');
                if breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i + 1 < chars.len()
                    && !next_space
                {
                    self.fold(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put("'");
                }
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("'");
    }

    fn double_quoted(&mut self, s: &str, indent: usize, breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put(&escape(c));
                spaces = false;
            } else if c == ' ' {
                if breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                    self.fold(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                self.put(c.encode_utf8(&mut [0; 4]));
                spaces = false;
            }
        }
        self.put("\"");
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put("|");
        let first = s.chars().next();
        if first.is_some_and(|c| c == ' ' || is_break(c)) {
            self.put(&INDENT.to_string());
        }
        let mut rev = s.chars().rev();
        match (rev.next(), rev.next()) {
            (Some(l), _) if !is_break(l) => self.put("-"),
            (Some(_), None) => self.put("+"),
            (Some(_), Some(p)) if is_break(p) => self.put("+"),
            _ => {}
        }
        self.newline();
        let mut at_break = true;
        for c in s.chars() {
            if is_break(c) {
                self.newline();
                at_break = true;
            } else {
                if at_break {
                    self.put(&" ".repeat(indent));
                    at_break = false;
                }
                self.put(c.encode_utf8(&mut [0; 4]));
            }
        }
        // The caller ends the line; a literal already ends on one unless it was chomped.
        if s.ends_with(is_break) {
            self.out.pop();
            self.column = 1;
        }
    }
}

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What `yaml_emitter_analyze_scalar` finds out about a string (block context only).
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `is_printable`: tab and characters beyond the BMP are not.
fn printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && c != '\u{FEFF}'
}

fn escape(c: char) -> String {
    let e = match c {
        '\0' => "\\0",
        '\u{7}' => "\\a",
        '\u{8}' => "\\b",
        '\t' => "\\t",
        '\n' => "\\n",
        '\u{B}' => "\\v",
        '\u{C}' => "\\f",
        '\r' => "\\r",
        '\u{1B}' => "\\e",
        '"' => "\\\"",
        '\\' => "\\\\",
        '\u{85}' => "\\N",
        '\u{A0}' => "\\_",
        '\u{2028}' => "\\L",
        '\u{2029}' => "\\P",
        c if (c as u32) <= 0xFF => return format!("\\x{:02X}", c as u32),
        c if (c as u32) <= 0xFFFF => return format!("\\u{:04X}", c as u32),
        c => return format!("\\U{:08X}", c as u32),
    };
    e.to_string()
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let last = i + 1 == chars.len();
        let followed_by_ws = last || matches!(chars[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= prev_break;
            (prev_space, prev_break) = (true, false);
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= prev_space;
            (prev_space, prev_break) = (false, true);
        } else {
            (prev_space, prev_break) = (false, false);
        }
        preceded_by_ws = matches!(c, ' ' | '\t') || is_break(c) || c == '\0';
    }
    let edges = leading_space || leading_break || trailing_space || trailing_break;
    let severe = space_break || special;
    Analysis {
        multiline: line_breaks,
        block_plain_allowed: !(edges || break_space || severe || line_breaks || block_indicators),
        single_quoted_allowed: !(break_space || severe),
        block_allowed: !(trailing_space || severe),
    }
}
