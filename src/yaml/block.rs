//! A fast reader for the YAML that property files are almost always written
//! in: block mappings and sequences of one-line scalars and one-line flow
//! lists. yaml_rust2 spent 280 instructions a byte on such files, an eighth
//! of a 10,000-model parse.
//!
//! It builds exactly the tree the full parser builds, marks included, or
//! gives up (`None`) at the first thing outside that subset: anchors,
//! aliases, tags, block and multi-line scalars, flow mappings, escapes in
//! double quotes, empty values, tabs, `\r`, several documents, and every
//! error. The full parser then reads the file, so what it accepts and how
//! it reports a mistake do not change.

use super::{Mark, Node, Value, resolve_plain};

/// The tree of `text`, or `None` when the full parser must read it.
pub(super) fn parse(text: &str) -> Option<Node> {
    if text.bytes().any(|b| b == b'\t' || b == b'\r') || text.starts_with('\u{feff}') {
        return None;
    }
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        line: 1,
        line_start: 0,
    };
    reader.skip_blank_lines();
    if reader.at_end() || reader.rest_of_line().starts_with("---") || reader.peek() == Some(b'%') {
        return None;
    }
    let indent = reader.indent();
    let root = if reader.at_dash(indent) {
        reader.sequence(indent, false)?
    } else {
        reader.mapping(indent)?
    };
    reader.skip_blank_lines();
    reader.at_end().then_some(root)
}

#[derive(Clone, Copy)]
struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// 1-based number of the line `pos` is on.
    line: usize,
    line_start: usize,
}

/// A key's text: plain keys are resolved (`1:` is a number) once the
/// `:` after them is found.
enum KeyText<'a> {
    Plain(&'a str),
    Quoted(String),
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.bytes.get(self.pos + offset).copied()
    }

    fn rest_of_line(&self) -> &str {
        let rest = &self.text[self.pos..];
        rest.split('\n').next().unwrap_or(rest)
    }

    /// Columns count characters, as the full parser counts them.
    fn mark(&self) -> Mark {
        let before = &self.text[self.line_start..self.pos];
        let column = if before.is_ascii() {
            before.len()
        } else {
            before.chars().count()
        };
        Mark {
            line: self.line,
            column: column + 1,
        }
    }

    /// Moves to the start of the next line.
    fn next_line(&mut self) {
        match self.bytes[self.pos..].iter().position(|&b| b == b'\n') {
            Some(newline) => {
                self.pos += newline + 1;
                self.line += 1;
                self.line_start = self.pos;
            }
            None => self.pos = self.bytes.len(),
        }
    }

    /// From the start of a line: past every line that holds only spaces or
    /// a comment, to the first character of the next one with content
    /// (its indentation is then `pos - line_start`).
    fn skip_blank_lines(&mut self) {
        while !self.at_end() {
            self.line_start = self.pos;
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            match self.peek() {
                Some(b'\n') | Some(b'#') => {
                    self.pos = self.line_start;
                    self.next_line();
                }
                None => return,
                Some(_) => return,
            }
        }
    }

    fn indent(&self) -> usize {
        self.pos - self.line_start
    }

    /// Whether a block sequence entry (`-` then a space or the line's end)
    /// starts here, at `indent`.
    fn at_dash(&self, indent: usize) -> bool {
        self.indent() == indent
            && self.peek() == Some(b'-')
            && matches!(self.peek_at(1), None | Some(b' ') | Some(b'\n'))
    }

    /// After a value on the same line: only spaces and a comment may
    /// follow. Moves to the next line with content.
    fn end_of_line(&mut self) -> Option<()> {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        match self.peek() {
            None => {}
            Some(b'\n') => self.next_line(),
            Some(b'#') if self.pos > 0 && self.bytes[self.pos - 1] == b' ' => self.next_line(),
            Some(_) => return None,
        }
        self.skip_blank_lines();
        Some(())
    }

    /// A block mapping whose keys start at column `indent`; `pos` is at its
    /// first key.
    fn mapping(&mut self, indent: usize) -> Option<Node> {
        let mut entries = Vec::new();
        loop {
            let key = self.key()?;
            let value = self.value_after_key(indent)?;
            entries.push((key, value));
            if self.at_end() || self.indent() < indent {
                break;
            }
            if self.indent() > indent || self.at_dash(indent) {
                return None;
            }
        }
        // The tree builder marks a mapping where its first key is.
        let mark = entries.first().map(|(k, _): &(Node, Node)| k.mark)?;
        Some(Node {
            value: Value::Map(entries),
            mark,
        })
    }

    /// A key and its `:`; plain or quoted, on one line.
    fn key(&mut self) -> Option<Node> {
        let mark = self.mark();
        let value = match self.key_text()? {
            KeyText::Plain(text) => resolve_plain(text.to_string()),
            KeyText::Quoted(text) => Value::String(text),
        };
        Some(Node { value, mark })
    }

    fn key_text(&mut self) -> Option<KeyText<'a>> {
        let text = match self.peek()? {
            b'\'' | b'"' => KeyText::Quoted(self.quoted()?),
            _ => {
                let start = self.pos;
                let text = self.plain(false)?;
                // A merge key needs the aliases only the full parser reads.
                if self.pos == start || text == "<<" {
                    return None;
                }
                KeyText::Plain(text)
            }
        };
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        if self.peek() != Some(b':') || !matches!(self.peek_at(1), None | Some(b' ') | Some(b'\n'))
        {
            return None;
        }
        self.pos += 1;
        Some(text)
    }

    /// The value after `key:` of a mapping at `indent`: on the same line,
    /// or a block on the lines below. Leaves `pos` at the next line with
    /// content.
    fn value_after_key(&mut self, indent: usize) -> Option<Node> {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        match self.peek() {
            None | Some(b'\n') | Some(b'#') => {
                self.end_of_line()?;
                if self.at_end() {
                    return None;
                }
                // A sequence may sit at its key's own indentation.
                if self.at_dash(indent) {
                    self.sequence(indent, true)
                } else if self.indent() > indent && self.at_dash(self.indent()) {
                    self.sequence(self.indent(), false)
                } else if self.indent() > indent {
                    self.mapping(self.indent())
                } else {
                    None
                }
            }
            Some(_) => {
                let node = self.inline_value()?;
                self.end_of_line()?;
                Some(node)
            }
        }
    }

    /// A block sequence whose dashes are at column `indent`; `compact`
    /// when it sits at its key's own indentation.
    fn sequence(&mut self, indent: usize, compact: bool) -> Option<Node> {
        // The full parser marks a block sequence at its first dash, but a
        // compact one where its first entry's content starts.
        let mut mark = (!compact).then(|| self.mark());
        let mut items = Vec::new();
        while self.at_dash(indent) {
            self.pos += 1;
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            if !matches!(self.peek(), None | Some(b'\n') | Some(b'#')) {
                mark.get_or_insert(self.mark());
            }
            let item = match self.peek() {
                None | Some(b'\n') | Some(b'#') => {
                    // Where the full parser marks a compact sequence whose
                    // first entry starts on the next line is not pinned down.
                    mark?;
                    self.end_of_line()?;
                    if self.at_end() || self.indent() <= indent {
                        return None;
                    }
                    if self.at_dash(self.indent()) {
                        self.sequence(self.indent(), false)?
                    } else {
                        self.mapping(self.indent())?
                    }
                }
                Some(b'-') if matches!(self.peek_at(1), None | Some(b' ') | Some(b'\n')) => {
                    return None;
                }
                Some(_) if self.key_follows() => {
                    let column = self.indent();
                    self.mapping(column)?
                }
                Some(_) => {
                    let node = self.inline_value()?;
                    self.end_of_line()?;
                    node
                }
            };
            items.push(item);
            if self.at_end() || self.indent() < indent {
                break;
            }
            if !self.at_dash(indent) {
                return None;
            }
        }
        Some(Node {
            value: Value::Seq(items),
            mark: mark?,
        })
    }

    /// Whether the rest of the line starts with a key and its `:` (an
    /// entry's mapping written on the dash's line).
    fn key_follows(&self) -> bool {
        let mut probe = *self;
        probe.key_text().is_some()
    }

    /// A scalar or a flow list on the rest of the line.
    fn inline_value(&mut self) -> Option<Node> {
        let mark = self.mark();
        let value = match self.peek()? {
            b'\'' | b'"' => Value::String(self.quoted()?),
            b'[' => return self.flow_list(),
            _ => {
                let start = self.pos;
                let text = self.plain(false)?;
                if self.pos == start {
                    return None;
                }
                // `a: b: c` is an error the full parser reports.
                if self.peek() == Some(b':') {
                    return None;
                }
                resolve_plain(text.to_string())
            }
        };
        Some(Node { value, mark })
    }

    /// `[a, 'b', c]` on one line, of scalars only.
    fn flow_list(&mut self) -> Option<Node> {
        let mark = self.mark();
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            if self.peek()? == b']' && items.is_empty() {
                self.pos += 1;
                break;
            }
            let item_mark = self.mark();
            let value = match self.peek()? {
                b'\'' | b'"' => Value::String(self.quoted()?),
                _ => {
                    let start = self.pos;
                    let text = self.plain(true)?;
                    if self.pos == start {
                        return None;
                    }
                    resolve_plain(text.to_string())
                }
            };
            items.push(Node {
                value,
                mark: item_mark,
            });
            while self.peek() == Some(b' ') {
                self.pos += 1;
            }
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    break;
                }
                _ => return None,
            }
        }
        Some(Node {
            value: Value::Seq(items),
            mark,
        })
    }

    /// A plain scalar, trimmed, ending before `: `, ` #`, the line's end
    /// or (in a flow list) `,` and `]`. `None` for what only the full
    /// parser reads: a scalar starting with an indicator.
    fn plain(&mut self, in_flow: bool) -> Option<&'a str> {
        let first = self.peek()?;
        let starts_with_indicator = match first {
            b'-' | b'?' | b':' => matches!(self.peek_at(1), None | Some(b' ') | Some(b'\n')),
            b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
            | b'"' | b'%' | b'@' | b'`' => true,
            _ => false,
        };
        if starts_with_indicator {
            return None;
        }
        let start = self.pos;
        let mut end = start;
        while let Some(b) = self.peek() {
            match b {
                b'\n' => break,
                b':' if matches!(self.peek_at(1), None | Some(b' ') | Some(b'\n')) => break,
                b'#' if self.bytes[self.pos - 1] == b' ' => break,
                b',' | b']' if in_flow => break,
                b'[' | b'{' | b'}' | b':' if in_flow => return None,
                b' ' => {}
                _ => end = self.pos + 1,
            }
            self.pos += 1;
        }
        // Trailing spaces are not part of the scalar; `pos` stays after them.
        Some(&self.text[start..end])
    }

    /// A quoted scalar closed on its own line; a double-quoted one without
    /// escapes.
    fn quoted(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.pos += 1;
        let mut text = String::new();
        let mut from = self.pos;
        loop {
            let b = self.peek()?;
            match b {
                b'\n' => return None,
                b'\\' if quote == b'"' => return None,
                _ if b == quote => {
                    text.push_str(&self.text[from..self.pos]);
                    self.pos += 1;
                    // `''` inside single quotes is one quote.
                    if quote == b'\'' && self.peek() == Some(b'\'') {
                        from = self.pos;
                        self.pos += 1;
                        continue;
                    }
                    return Some(text);
                }
                _ => self.pos += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SourceFile, parse_fully};

    /// The fast reader's tree, which must be the full parser's, marks
    /// included; `false` when the fast reader gave the file up.
    fn agrees(text: &str) -> bool {
        let Some(fast) = super::parse(text) else {
            return false;
        };
        let full = parse_fully(&SourceFile::new("x.yml", text));
        assert_eq!(Ok(Some(fast)), full.map_err(|d| d.message), "{text}");
        true
    }

    #[test]
    fn property_files_as_dbt_users_write_them_are_read_fast() {
        let cases = [
            "version: 2\nmodels:\n  - name: a\n    description: The first model.\n    columns:\n      - name: id\n        data_tests: [not_null, unique]\n",
            "version: 2\n\nmodels:\n- name: a  # a comment\n  columns:\n  - name: id\n    tests:\n    - not_null\n    - accepted_values:\n        values: ['a', \"b\", c]\n",
            "# leading comment\nsources:\n  - name: shop\n    tables:\n      - name: orders\n        identifier: raw_orders\n        loaded_at_field: _loaded_at\n        freshness:\n          warn_after:\n            count: 1\n",
            "a: 1\nb: -2\nc: 1.5\nd: true\ne: null\nf: ~\ng: '1'\nh: \"x y\"\ni: it''s\nj: 'it''s'\nk: http://x.y/z\nl: a # b\nm: a#b\n",
            "a: []\nb: [ ]\nc: [1, 2.5, x, 'y', \"z\"]\nd:   spaced   \n'quoted key': 1\n\"dq\": 2\n3: three\n",
            "- a\n- b: 1\n  c: 2\n-   d: 3\n- [x]\n-\n  e: 4\n-\n  - nested\n",
            "description: café au lait, 東京\nnext: [é, b]\ntags: ['ü', v]\n",
            "a:\n  b:\n    c:\n      - d\n  e: f\n",
            "a: x\n\n\n   # indented comment\nb: y",
            "key  : value\nother:    [a,b]\n",
            "a: [1,2]   # after a list\nb: 'q'  # after quotes\n",
        ];
        for case in cases {
            assert!(agrees(case), "the fast reader gave up on {case:?}");
        }
    }

    #[test]
    fn everything_else_is_left_to_the_full_parser() {
        let cases = [
            "a: &x 1\nb: *x\n",
            "a: !tag x\n",
            "a: |\n  text\n",
            "a: >-\n  text\n",
            "a: {b: 1}\n",
            "a: \"esc\\\"aped\"\n",
            "a:\nb: 1\n",
            "a: multi\n  line plain\n",
            "a: 'multi\n  line quoted'\n",
            "---\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "a:\tb\n",
            "a: 1\r\n",
            "a: [1, [2]]\n",
            "a: [1,\n  2]\n",
            "a: [1, 2,]\n",
            "<<: {x: 1}\n",
            "a: b: c\n",
            "a: 1\n- b\n",
            "- a\nb: 1\n",
            "a: 1\n  b: 2\n",
            "a: [1, 2\nb: 3\n",
            "a: 'unclosed\n",
            "? complex\n: key\n",
            "just a scalar\n",
            "",
            "# only a comment\n",
            "a: x'#'y\n- z\n",
            "a: 'q'#c\n",
            "a: - b\n",
            "a:\n  'value'\n",
            "a:\n  plain\n",
            "- - nested\n",
        ];
        for case in cases {
            assert!(!agrees(case), "the fast reader read {case:?}");
        }
    }

    /// Every YAML file of the repository: property files of the example,
    /// the fixtures (bad ones included) and the packages. What the fast
    /// reader accepts must be what the full parser builds.
    #[test]
    fn every_yaml_file_of_the_repository_reads_the_same() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let (mut read_fast, mut total) = (0, 0);
        for dir in ["models", "project", "tests", "seeds", "macros", "snapshots"] {
            for entry in walkdir::WalkDir::new(root.join(dir)).into_iter().flatten() {
                let path = entry.path();
                let is_yaml = path.extension().is_some_and(|e| e == "yml" || e == "yaml");
                let Ok(text) = std::fs::read_to_string(path) else {
                    continue;
                };
                if is_yaml {
                    total += 1;
                    read_fast += usize::from(agrees(&text));
                }
            }
        }
        assert!(total > 20, "only {total} YAML files found");
        // Most are plain block YAML; a few use anchors, block scalars or
        // mistakes on purpose.
        assert!(read_fast * 2 > total, "{read_fast} of {total} read fast");
    }

    /// Small documents built from every construct the fast reader knows,
    /// nested every way, against the full parser.
    #[test]
    fn generated_documents_read_the_same() {
        let mut generator = Generator {
            rng: crate::rng::Rng(7),
            scalars: &[
                "x", "1", "-1", "2.5", "true", "~", "'q'", "\"d q\"", "a b", "[]", "[a, 'b']", "é",
                "x # c", "'it''s'", "http://h",
            ],
            out: String::new(),
        };
        let mut read_fast = 0;
        for _ in 0..3000 {
            generator.out.clear();
            generator.block(0, 3);
            read_fast += usize::from(agrees(&generator.out));
        }
        assert!(read_fast > 2500, "only {read_fast} of 3000 read fast");
    }

    struct Generator<'a> {
        rng: crate::rng::Rng,
        scalars: &'a [&'a str],
        out: String,
    }

    impl Generator<'_> {
        fn scalar(&mut self) -> &str {
            self.rng.pick::<&str>(self.scalars)
        }

        fn line(&mut self, indent: usize, text: &str) {
            self.out.push_str(&" ".repeat(indent));
            self.out.push_str(text);
            self.out.push('\n');
        }

        /// A mapping or a list at `indent`, nesting up to `depth` deeper.
        fn block(&mut self, indent: usize, depth: usize) {
            let as_list = self.rng.below(2) == 0;
            for i in 0..1 + self.rng.below(3) {
                let nested = depth > 0 && self.rng.below(3) == 0;
                let scalar = self.scalar().to_string();
                match (as_list, nested) {
                    (true, false) => self.line(indent, &format!("- {scalar}")),
                    // The entry's mapping starts on the dash's line.
                    (true, true) if self.rng.below(2) == 0 => {
                        self.line(indent, &format!("- k{i}: {scalar}"));
                        self.mapping_rest(indent + 2, depth - 1);
                    }
                    (true, true) => {
                        self.line(indent, "-");
                        self.block(indent + 2, depth - 1);
                    }
                    (false, false) => self.line(indent, &format!("k{i}: {scalar}")),
                    (false, true) => {
                        self.line(indent, &format!("k{i}:"));
                        // A list may sit at its key's indentation.
                        if self.rng.below(4) == 0 {
                            for _ in 0..1 + self.rng.below(3) {
                                let item = self.scalar().to_string();
                                self.line(indent, &format!("- {item}"));
                            }
                        } else {
                            self.block(indent + 2, depth - 1);
                        }
                    }
                }
                if self.rng.below(6) == 0 {
                    self.out.push_str("\n# a comment line\n");
                }
            }
        }

        /// More keys of a mapping whose first key sits on a dash's line.
        fn mapping_rest(&mut self, indent: usize, depth: usize) {
            for i in 0..self.rng.below(3) {
                if depth > 0 && self.rng.below(3) == 0 {
                    self.line(indent, &format!("m{i}:"));
                    self.block(indent + 2, depth - 1);
                } else {
                    let scalar = self.scalar().to_string();
                    self.line(indent, &format!("m{i}: {scalar}"));
                }
            }
        }
    }
}
