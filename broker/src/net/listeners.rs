//! Kafka's listener configuration: `listeners` (`NAME://HOST:PORT`, comma
//! separated; an empty host binds every interface), `advertised.listeners` (what
//! clients are told, per listener name; default the bound address) and
//! `listener.security.protocol.map` (`NAME:PROTOCOL`; a listener named after a
//! protocol needs no entry).

use std::collections::HashMap;

use crate::error::BrokerError;

/// Kafka's security protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Option<SecurityProtocol> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// `listeners` and `advertised.listeners` without the listeners named in
/// `controller.listener.names`: Kafka serves only the controller quorum there, and
/// Weir's metadata quorum is internal to the node, so a Kafka `server.properties`
/// (`PLAINTEXT://:9092,CONTROLLER://:9093`) binds only its client listeners.
pub fn without_controller_listeners(listeners: &str, advertised: &str, controller_names: &str) -> (String, String) {
    let controllers: Vec<String> =
        controller_names.split(',').map(|n| n.trim().to_ascii_uppercase()).filter(|n| !n.is_empty()).collect();
    let keep = |list: &str| -> String {
        list.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .filter(|e| {
                let name = e.split_once("://").map_or("", |(n, _)| n).trim().to_ascii_uppercase();
                !controllers.contains(&name)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    (keep(listeners), keep(advertised))
}

/// One configured listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerSpec {
    pub name: String,
    pub protocol: SecurityProtocol,
    /// Bind address, `HOST:PORT` (an empty host became `0.0.0.0`).
    pub bind: String,
    /// What clients are told, when `advertised.listeners` names this listener.
    pub advertised: Option<(String, i32)>,
}

fn split_entry(entry: &str, key: &str) -> Result<(String, String), BrokerError> {
    let (name, addr) = entry
        .split_once("://")
        .ok_or_else(|| BrokerError::Config(format!("{key}: '{entry}' is not of the form NAME://HOST:PORT")))?;
    let name = name.trim().to_ascii_uppercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(BrokerError::Config(format!("{key}: '{entry}' has no valid listener name")));
    }
    Ok((name, addr.trim().to_string()))
}

pub(crate) fn split_host_port(addr: &str) -> Option<(String, i32)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port.parse().ok()?;
    Some((host.to_string(), port as i32))
}

/// Parses the three keys. `first_addr` (`--kafka-addr`) replaces the first
/// listener's address.
pub fn parse(
    listeners: &str,
    advertised: &str,
    protocol_map: &str,
    first_addr: Option<&str>,
) -> Result<Vec<ListenerSpec>, BrokerError> {
    let mut map: HashMap<String, SecurityProtocol> = HashMap::new();
    for entry in protocol_map.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, proto) = entry.split_once(':').ok_or_else(|| {
            BrokerError::Config(format!("listener.security.protocol.map: '{entry}' is not NAME:PROTOCOL"))
        })?;
        let proto = SecurityProtocol::parse(proto).ok_or_else(|| {
            BrokerError::Config(format!("listener.security.protocol.map: unknown security protocol '{proto}'"))
        })?;
        map.insert(name.trim().to_ascii_uppercase(), proto);
    }
    let mut adv: HashMap<String, (String, i32)> = HashMap::new();
    for entry in advertised.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, addr) = split_entry(entry, "advertised.listeners")?;
        let hp = split_host_port(&addr)
            .filter(|(h, _)| !h.is_empty())
            .ok_or_else(|| BrokerError::Config(format!("advertised.listeners: '{entry}' needs a host and a port")))?;
        adv.insert(name, hp);
    }
    let mut out: Vec<ListenerSpec> = Vec::new();
    for entry in listeners.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, mut addr) = split_entry(entry, "listeners")?;
        if out.is_empty() {
            if let Some(a) = first_addr {
                addr = a.to_string();
            }
        }
        let (host, port) = split_host_port(&addr)
            .ok_or_else(|| BrokerError::Config(format!("listeners: '{entry}' has no valid HOST:PORT")))?;
        if out.iter().any(|l| l.name == name) {
            return Err(BrokerError::Config(format!("listeners: listener name {name} is used twice")));
        }
        let protocol = map.get(&name).copied().or_else(|| SecurityProtocol::parse(&name)).ok_or_else(|| {
            BrokerError::Config(format!(
                "listeners: listener {name} has no security protocol in listener.security.protocol.map"
            ))
        })?;
        let bind_host = if host.is_empty() { "0.0.0.0".to_string() } else { host };
        let bind =
            if bind_host.contains(':') { format!("[{bind_host}]:{port}") } else { format!("{bind_host}:{port}") };
        out.push(ListenerSpec { advertised: adv.remove(&name), name, protocol, bind });
    }
    if out.is_empty() {
        match first_addr {
            Some(a) => return parse(&format!("PLAINTEXT://{a}"), advertised, protocol_map, None),
            None => return Err(BrokerError::Config("listeners: no listener is configured".into())),
        }
    }
    if let Some(name) = adv.keys().next() {
        return Err(BrokerError::Config(format!("advertised.listeners: {name} is not one of the listeners")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_listeners_are_left_out() {
        let (l, a) = without_controller_listeners(
            "PLAINTEXT://:9092,CONTROLLER://:9093",
            "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            "CONTROLLER",
        );
        assert_eq!((l.as_str(), a.as_str()), ("PLAINTEXT://:9092", "PLAINTEXT://localhost:9092"));
        let (l, _) = without_controller_listeners("PLAINTEXT://:9092", "", "");
        assert_eq!(l, "PLAINTEXT://:9092");
    }

    const MAP: &str = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

    #[test]
    fn kafka_listener_syntax() {
        let l = parse(
            "PLAINTEXT://127.0.0.1:9092,INTERNAL://:9093",
            "INTERNAL://kafka.internal:19093",
            &format!("{MAP},INTERNAL:PLAINTEXT"),
            None,
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(
            (l[0].name.as_str(), l[0].bind.as_str(), l[0].advertised.clone()),
            ("PLAINTEXT", "127.0.0.1:9092", None)
        );
        assert_eq!(l[1].bind, "0.0.0.0:9093");
        assert_eq!(l[1].advertised, Some(("kafka.internal".to_string(), 19093)));
    }

    #[test]
    fn the_address_flag_replaces_the_first_listener() {
        let l = parse(
            "PLAINTEXT://127.0.0.1:9092,B://127.0.0.1:9093",
            "",
            &format!("{MAP},B:PLAINTEXT"),
            Some("127.0.0.1:0"),
        )
        .unwrap();
        assert_eq!((l[0].bind.as_str(), l[1].bind.as_str()), ("127.0.0.1:0", "127.0.0.1:9093"));
    }

    #[test]
    fn mistakes_are_named() {
        let e = |l: &str, a: &str, m: &str| parse(l, a, m, None).unwrap_err().to_string();
        assert!(e("127.0.0.1:9092", "", MAP).contains("NAME://HOST:PORT"));
        assert!(e("OTHER://127.0.0.1:9092", "", MAP).contains("OTHER has no security protocol"));
        for served in ["SSL://127.0.0.1:9093", "SASL_SSL://127.0.0.1:9093", "SASL_PLAINTEXT://127.0.0.1:9093"] {
            assert!(parse(served, "", MAP, None).is_ok(), "{served}");
        }
        assert!(e("PLAINTEXT://127.0.0.1:9092", "OTHER://h:1", MAP).contains("OTHER is not one of the listeners"));
        assert!(e("PLAINTEXT://127.0.0.1:1,PLAINTEXT://127.0.0.1:2", "", MAP).contains("used twice"));
        assert!(e("PLAINTEXT://127.0.0.1:9092", "", "PLAINTEXT:TLS").contains("unknown security protocol"));
    }
}
