//! A client certificate's principal: its subject as RFC 2253 text (what
//! Java's `X500Principal.getName()` gives Kafka: the most specific name first,
//! `CN=alice,OU=eng,O=acme,C=US`), then Kafka's `ssl.principal.mapping.rules`:
//! a comma-separated list of `RULE:pattern/replacement/` (optionally `L` or `U`
//! after the last `/` to lower- or upper-case the result) and `DEFAULT` (the
//! subject as is), tried in order; the first rule whose pattern matches the
//! whole subject gives the name. No rule matching fails the authentication,
//! as in Kafka.

use regex::Regex;

/// Attribute names of the OIDs RFC 2253 names (others are written as the dotted OID).
const NAMES: &[(&[u64], &str)] = &[
    (&[2, 5, 4, 3], "CN"),
    (&[2, 5, 4, 7], "L"),
    (&[2, 5, 4, 8], "ST"),
    (&[2, 5, 4, 10], "O"),
    (&[2, 5, 4, 11], "OU"),
    (&[2, 5, 4, 6], "C"),
    (&[2, 5, 4, 9], "STREET"),
    (&[0, 9, 2342, 19200300, 100, 1, 25], "DC"),
    (&[0, 9, 2342, 19200300, 100, 1, 1], "UID"),
];

/// One DER element: (tag, contents, rest).
fn der(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&first, mut b) = b.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n].iter().fold(0usize, |a, x| (a << 8) | *x as usize);
        b = &b[n..];
        len
    };
    (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
}

fn oid(b: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut v = 0u64;
    for x in b {
        v = (v << 7) | (x & 0x7f) as u64;
        if x & 0x80 == 0 {
            if out.is_empty() {
                out.push(if v < 80 { v / 40 } else { 2 });
                out.push(if v < 80 { v % 40 } else { v - 80 });
            } else {
                out.push(v);
            }
            v = 0;
        }
    }
    out
}

/// RFC 2253 escaping of an attribute value.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let edge = (i == 0 && (c == ' ' || c == '#')) || (i == last && c == ' ');
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') || edge {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The subject of a DER certificate in RFC 2253 form; None if it does not parse.
pub fn subject_dn(cert: &[u8]) -> Option<String> {
    let (_, cert, _) = der(cert)?; // Certificate
    let (_, tbs, _) = der(cert)?; // TBSCertificate
    let mut rest = tbs;
    let (tag, _, r) = der(rest)?;
    if tag == 0xa0 {
        rest = r; // [0] version
    }
    // serialNumber, signature, issuer, validity, then subject.
    for _ in 0..4 {
        rest = der(rest)?.2;
    }
    let (_, subject, _) = der(rest)?;
    let mut rdns = Vec::new();
    let mut sets = subject;
    while !sets.is_empty() {
        let (_, set, r) = der(sets)?;
        sets = r;
        let mut parts = Vec::new();
        let mut atvs = set;
        while !atvs.is_empty() {
            let (_, atv, r) = der(atvs)?;
            atvs = r;
            let (_, oid_bytes, r) = der(atv)?;
            let (vtag, value, _) = der(r)?;
            let oid = oid(oid_bytes);
            let name = NAMES
                .iter()
                .find(|(o, _)| *o == oid.as_slice())
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| oid.iter().map(u64::to_string).collect::<Vec<_>>().join("."));
            let text = match vtag {
                // BMPString: UTF-16BE.
                0x1e => {
                    let units: Vec<u16> = value.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                    String::from_utf16_lossy(&units)
                }
                _ => String::from_utf8_lossy(value).into_owned(),
            };
            parts.push(format!("{name}={}", escape(&text)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

enum Rule {
    Default,
    Map { pattern: Regex, replacement: String, case: Option<char> },
}

/// Kafka's `ssl.principal.mapping.rules`.
pub struct PrincipalMapper(Vec<Rule>);

impl PrincipalMapper {
    pub fn parse(rules: &str) -> Result<PrincipalMapper, String> {
        let rules = rules.trim();
        if rules.is_empty() {
            return Ok(PrincipalMapper(vec![Rule::Default]));
        }
        let mut out = Vec::new();
        let mut rest = rules;
        let group_ref = Regex::new(r"\$(\d+)").expect("a valid pattern");
        while !rest.is_empty() {
            rest = rest.trim_start_matches([',', ' ']);
            if rest.is_empty() {
                break;
            }
            if let Some(r) = rest.strip_prefix("DEFAULT") {
                out.push(Rule::Default);
                rest = r;
                continue;
            }
            let Some(r) = rest.strip_prefix("RULE:") else {
                return Err(format!("'{rest}' is not DEFAULT or RULE:pattern/replacement/[LU]"));
            };
            // pattern/replacement/ with the pattern free of unescaped '/'.
            let mut parts = Vec::new();
            let mut cur = String::new();
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                if c == '\\' {
                    if let Some((_, n)) = chars.next() {
                        cur.push('\\');
                        cur.push(n);
                    }
                } else if c == '/' {
                    parts.push(std::mem::take(&mut cur));
                    if parts.len() == 2 {
                        end = i + 1;
                        break;
                    }
                } else {
                    cur.push(c);
                }
            }
            if parts.len() < 2 {
                return Err(format!("RULE:{r} needs the form RULE:pattern/replacement/[LU]"));
            }
            let mut r = &r[end..];
            let case = match r.chars().next() {
                Some(c @ ('L' | 'U')) => {
                    r = &r[1..];
                    Some(c)
                }
                _ => None,
            };
            let pattern =
                Regex::new(&format!("^(?:{})$", parts[0])).map_err(|e| format!("pattern {}: {e}", parts[0]))?;
            // Java's $1 is Rust's ${1} (so "$1x" keeps meaning group 1, then x).
            let replacement = group_ref.replace_all(&parts[1], "$${$1}").into_owned();
            out.push(Rule::Map { pattern, replacement, case });
            rest = r;
        }
        Ok(PrincipalMapper(out))
    }

    /// The principal name for subject `dn`, or why none applies.
    pub fn map(&self, dn: &str) -> Result<String, String> {
        for rule in &self.0 {
            match rule {
                Rule::Default => return Ok(dn.to_string()),
                Rule::Map { pattern, replacement, case } => {
                    if pattern.is_match(dn) {
                        let name = pattern.replace(dn, replacement.as_str()).into_owned();
                        return Ok(match case {
                            Some('L') => name.to_lowercase(),
                            Some('U') => name.to_uppercase(),
                            _ => name,
                        });
                    }
                }
            }
        }
        Err(format!("no ssl.principal.mapping.rules rule applies to {dn}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_map_like_kafka() {
        let m = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=.*$/$1@$2/L, DEFAULT",
        )
        .unwrap();
        assert_eq!(m.map("CN=kafka-client,OU=ServiceUsers,O=Acme,C=US").unwrap(), "kafka-client");
        assert_eq!(m.map("CN=Duke,OU=JavaSoft,O=Sun Microsystems").unwrap(), "duke@javasoft");
        assert_eq!(m.map("CN=x").unwrap(), "CN=x", "DEFAULT: the subject as is");
        let strict = PrincipalMapper::parse("RULE:^CN=([a-z]+)$/$1/U").unwrap();
        assert_eq!(strict.map("CN=abc").unwrap(), "ABC");
        assert!(strict.map("CN=a,O=b").is_err(), "no rule applies");
        assert!(PrincipalMapper::parse("RULE:nope").is_err());
        assert!(PrincipalMapper::parse("SOMETHING").is_err());
        assert_eq!(PrincipalMapper::parse("").unwrap().map("CN=a").unwrap(), "CN=a");
    }

    #[test]
    fn escapes_and_oids() {
        assert_eq!(escape("a,b+c"), "a\\,b\\+c");
        assert_eq!(escape(" x "), "\\ x\\ ");
        assert_eq!(oid(&[0x55, 0x04, 0x03]), [2, 5, 4, 3]);
        assert_eq!(oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]), [1, 2, 840, 113549, 1, 9, 1]);
    }
}
