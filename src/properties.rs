//! Java `.properties` files (Kafka's `server.properties`), as `java.util.Properties`
//! reads them: `#` and `!` comment lines, `key=value`, `key: value` or `key value`,
//! a trailing odd backslash continuing the line (leading blanks of the next line
//! dropped), and the escapes `\t \n \r \f \uXXXX` (any other escaped character
//! stands for itself). Later keys override earlier ones.

use std::collections::BTreeMap;

/// Parses the text of a properties file; an error names the line.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, first)) = lines.next() {
        let mut logical = first.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_in_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        let key = unescape(key).map_err(|e| format!("line {}: {e}", n + 1))?;
        let value = unescape(value).map_err(|e| format!("line {}: {e}", n + 1))?;
        out.insert(key, value);
    }
    Ok(out)
}

fn ends_in_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// Splits at the first unescaped `=`, `:` or blank; blanks around the separator go.
fn split(line: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' => return (&line[..i], line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix(['=', ':']).map_or(rest, str::trim_start);
                return (&line[..i], rest);
            }
            _ => {}
        }
    }
    (line, "")
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|_| format!("bad \\u escape '\\u{hex}'"))?;
                out.push(char::from_u32(code).ok_or_else(|| format!("bad \\u escape '\\u{hex}'"))?);
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_what_java_properties_reads() {
        let text = "# comment\n! also a comment\n\n  node.id=1\nlisteners = PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\n\
                    log.dirs:/tmp/kraft-combined-logs\nnum.io.threads 8\nkey\\=with\\:seps = v\\tx\\u0041\nempty=\nnum.io.threads=9\n";
        let p = parse(text).unwrap();
        assert_eq!(p["node.id"], "1");
        assert_eq!(p["listeners"], "PLAINTEXT://:9092,CONTROLLER://:9093");
        assert_eq!(p["log.dirs"], "/tmp/kraft-combined-logs");
        assert_eq!(p["num.io.threads"], "9", "the later line wins");
        assert_eq!(p["key=with:seps"], "v\txA");
        assert_eq!(p["empty"], "");
        assert_eq!(p.len(), 6);
        assert!(parse("bad=\\uZZZZ").unwrap_err().contains("line 1"));
    }
}
