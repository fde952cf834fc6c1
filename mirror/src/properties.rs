//! Java `.properties` files (what MirrorMaker 2 reads, and Kafka's
//! `server.properties`, which `weir serve --config` takes), as `java.util.Properties.load`
//! reads them: `#` and `!` comment lines, `key=value`, `key: value` or `key value`,
//! a backslash at the end of a line continuing it (the next line's leading blanks
//! dropped), the escapes `\t \n \r \f \uXXXX`, and a backslash before any other
//! character meaning that character. A later key overrides an earlier one; the
//! order of first appearance is kept.

use crate::error::MirrorError;

/// The keys and values of a properties text, in order of first appearance.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, MirrorError> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).enumerate().peekable();
    while let Some((n, first)) = lines.next() {
        let start = first.trim_start_matches([' ', '\t', '\x0c']);
        if start.is_empty() || start.starts_with('#') || start.starts_with('!') {
            continue;
        }
        // Join continuation lines: an odd number of trailing backslashes continues.
        let mut logical = String::from(start);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches([' ', '\t', '\x0c'])),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        let key = unescape(key).map_err(|why| MirrorError::Properties { line: n + 1, why })?;
        let value = unescape(value).map_err(|why| MirrorError::Properties { line: n + 1, why })?;
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(out)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The raw key and value of a logical line: the key ends at the first unescaped
/// `=`, `:` or blank; blanks and one `=` or `:` separate it from the value.
fn split(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
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
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .ok_or_else(|| format!("malformed \\uXXXX escape: \\u{hex}"))?;
                out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn reads_what_java_properties_reads() {
        let text = "# MM2\n! also a comment\n\nclusters = A, B\nA.bootstrap.servers:localhost:9092\nB.bootstrap.servers localhost:9093\n\
                    A->B.enabled=true\n  topics = orders, \\\n     payments\nkey\\ with\\ spaces = v\\tw\nuni=\\u00e9t\\u00E9\nempty=\nclusters=A,B,C\r\n";
        let p = parse(text).unwrap();
        assert_eq!(get(&p, "clusters"), Some("A,B,C"), "the last value wins");
        assert_eq!(p[0].0, "clusters", "in order of first appearance");
        assert_eq!(get(&p, "A.bootstrap.servers"), Some("localhost:9092"));
        assert_eq!(get(&p, "B.bootstrap.servers"), Some("localhost:9093"));
        assert_eq!(get(&p, "A->B.enabled"), Some("true"));
        assert_eq!(get(&p, "topics"), Some("orders, payments"));
        assert_eq!(get(&p, "key with spaces"), Some("v\tw"));
        assert_eq!(get(&p, "uni"), Some("été"));
        assert_eq!(get(&p, "empty"), Some(""));
        assert!(matches!(parse("a=\\u12"), Err(MirrorError::Properties { line: 1, .. })));
    }

    #[test]
    fn reads_kafkas_server_properties() {
        let text = "# comment\n  node.id=1\nlisteners = PLAINTEXT://:9092,\\\n    CONTROLLER://:9093\n\
                    log.dirs:/tmp/kraft-combined-logs\nnum.io.threads 8\nkey\\=with\\:seps = v\\tx\\u0041\nnum.io.threads=9\n";
        let p = parse(text).unwrap();
        assert_eq!(get(&p, "node.id"), Some("1"));
        assert_eq!(get(&p, "listeners"), Some("PLAINTEXT://:9092,CONTROLLER://:9093"));
        assert_eq!(get(&p, "log.dirs"), Some("/tmp/kraft-combined-logs"));
        assert_eq!(get(&p, "num.io.threads"), Some("9"));
        assert_eq!(get(&p, "key=with:seps"), Some("v\txA"));
        assert_eq!(p.len(), 5);
        assert_eq!(parse("bad=\\uZZZZ").unwrap_err().to_string(), "line 1: malformed \\uXXXX escape: \\uZZZZ");
    }

    #[test]
    fn an_even_number_of_trailing_backslashes_does_not_continue() {
        let p = parse("path=C:\\\\\nnext=1\n").unwrap();
        assert_eq!(get(&p, "path"), Some("C:\\"));
        assert_eq!(get(&p, "next"), Some("1"));
    }
}
