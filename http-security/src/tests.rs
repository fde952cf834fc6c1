use weir_broker::BrokerConfig;

use super::*;

fn config(pairs: &[(&str, &str)]) -> BrokerConfig {
    let mut c = BrokerConfig::default();
    for (k, v) in pairs {
        c.set(k, v).unwrap();
    }
    c
}

#[test]
fn addresses_choose_tls_and_keys_fall_back_to_the_brokers() {
    let c = config(&[("ssl.keystore.location", "/etc/weir/broker.pem")]);
    let l = ListenerConfig::from_config(&c, "registry", "127.0.0.1:8081").unwrap();
    assert!(l.tls.is_none() && l.method == AuthMethod::None && !l.authenticates());
    assert_eq!(l.bind, "127.0.0.1:8081");
    let l = ListenerConfig::from_config(&c, "registry", "https://127.0.0.1:8081").unwrap();
    let tls = l.tls.as_ref().unwrap();
    assert_eq!(tls.keystore.to_str(), Some("/etc/weir/broker.pem"), "the broker's keystore");
    assert_eq!(tls.client_auth, ClientAuth::None, "not the Kafka listeners' ssl.client.auth");
    assert_eq!((l.bind.as_str(), l.scheme()), ("127.0.0.1:8081", "https"));

    let c = config(&[
        ("ssl.keystore.location", "/etc/weir/broker.pem"),
        ("console.ssl.keystore.location", "/etc/weir/console.pem"),
        ("console.ssl.truststore.location", "/etc/weir/ca.pem"),
        ("console.ssl.client.auth", "required"),
        ("console.authentication.method", "basic"),
    ]);
    let l = ListenerConfig::from_config(&c, "console", "https://0.0.0.0:8080").unwrap();
    let tls = l.tls.as_ref().unwrap();
    assert_eq!(tls.keystore.to_str(), Some("/etc/weir/console.pem"));
    assert_eq!(tls.client_auth, ClientAuth::Required);
    assert!(l.method == AuthMethod::Basic && l.authenticates());
}

#[test]
fn mistakes_are_named() {
    let c = config(&[("registry.ssl.keystore.location", "/k.pem")]);
    let e = ListenerConfig::from_config(&c, "registry", "127.0.0.1:8081").unwrap_err().to_string();
    assert!(e.contains("https://127.0.0.1:8081"), "{e}");
    let e = ListenerConfig::from_config(&config(&[]), "registry", "ftp://x:1").unwrap_err().to_string();
    assert!(e.contains("not http or https"), "{e}");
    let e = ListenerConfig::from_config(&config(&[]), "console", "https://x:1").unwrap_err().to_string();
    assert!(e.contains("ssl.keystore.location"), "{e}");
    let c = config(&[("registry.authentication.method", "DIGEST")]);
    let e = ListenerConfig::from_config(&c, "registry", "x:1").unwrap_err().to_string();
    assert!(e.contains("NONE or BASIC"), "{e}");
}
