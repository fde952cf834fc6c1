//! MirrorMaker 2's filters: a comma-separated list of regular expressions, any
//! of which must match the whole name, minus an exclude list likewise
//! (`topics`/`topics.exclude`, `groups`/`groups.exclude`,
//! `config.properties.exclude`), with MM2's defaults.

use regex::Regex;

pub const TOPICS_DEFAULT: &str = ".*";
pub const TOPICS_EXCLUDE_DEFAULT: &str = r".*[\-\.]internal, .*\.replica, __.*";
pub const GROUPS_DEFAULT: &str = ".*";
pub const GROUPS_EXCLUDE_DEFAULT: &str = "console-consumer-.*, connect-.*, __.*";
pub const CONFIG_PROPERTIES_EXCLUDE_DEFAULT: &str = r"follower\.replication\.throttled\.replicas, leader\.replication\.throttled\.replicas, message\.timestamp\.difference\.max\.ms, message\.timestamp\.type, unclean\.leader\.election\.enable, min\.insync\.replicas";

/// One list of patterns, matched against whole names.
#[derive(Clone, Debug)]
pub struct Patterns {
    source: String,
    re: Regex,
}

impl Patterns {
    /// Compiles a comma-separated list (blanks around items ignored; an empty
    /// list matches nothing but the empty name, as in MM2).
    pub fn parse(list: &str) -> Result<Patterns, String> {
        let items: Vec<&str> = list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
        let joined = items.iter().map(|i| format!("(?:{i})")).collect::<Vec<_>>().join("|");
        let re =
            Regex::new(&format!("^(?:{joined})$")).map_err(|e| format!("not a list of regular expressions: {e}"))?;
        Ok(Patterns { source: list.to_string(), re })
    }

    pub fn matches(&self, name: &str) -> bool {
        self.re.is_match(name)
    }

    /// The list as configured.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// An include list minus an exclude list.
#[derive(Clone, Debug)]
pub struct Filter {
    pub include: Patterns,
    pub exclude: Patterns,
}

impl Filter {
    pub fn matches(&self, name: &str) -> bool {
        self.include.matches(name) && !self.exclude.matches(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(i: &str, e: &str) -> Filter {
        Filter { include: Patterns::parse(i).unwrap(), exclude: Patterns::parse(e).unwrap() }
    }

    #[test]
    fn mm2_defaults_keep_user_topics_and_groups_only() {
        let topics = filter(TOPICS_DEFAULT, TOPICS_EXCLUDE_DEFAULT);
        for t in ["orders", "a.b", "payments-v2"] {
            assert!(topics.matches(t), "{t}");
        }
        for t in ["__consumer_offsets", "mm2-offset-syncs.B.internal", "connect-configs-internal", "x.replica"] {
            assert!(!topics.matches(t), "{t}");
        }
        let groups = filter(GROUPS_DEFAULT, GROUPS_EXCLUDE_DEFAULT);
        assert!(groups.matches("billing"));
        assert!(!groups.matches("console-consumer-42") && !groups.matches("connect-sink") && !groups.matches("__x"));
    }

    #[test]
    fn patterns_match_whole_names() {
        let f = filter("orders, pay.*", "");
        assert!(f.matches("orders") && f.matches("payments"));
        assert!(!f.matches("orders2") && !f.matches("my-orders"));
        assert!(!filter("", "").matches("orders"), "an empty list matches nothing");
        assert!(Patterns::parse("(unclosed").is_err());
        let props = Patterns::parse(CONFIG_PROPERTIES_EXCLUDE_DEFAULT).unwrap();
        assert!(props.matches("min.insync.replicas") && !props.matches("retention.ms"));
    }
}
