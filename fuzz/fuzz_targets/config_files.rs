//! The config parsers: `weir.toml`, Kafka `.properties` broker files, the MM2
//! properties file, and every broker key's value checks behind them.
//!
//! Input: a kind byte (modulo 3: weir.toml, server.properties,
//! mm2.properties), then the file's text (UTF-8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use weir_broker::config::file::parse_toml;
use weir_broker::settings::BrokerSettings;
use weir_broker::BrokerConfig;

/// Broker keys as `weir serve` applies them: each checked by `BrokerConfig::set`,
/// then the whole by `BrokerSettings::from_config`.
fn apply(keys: impl IntoIterator<Item = (String, String)>) {
    let mut config = BrokerConfig::default();
    for (k, v) in keys {
        if config.set(&k, &v).is_err() {
            return;
        }
    }
    let _ = BrokerSettings::from_config(&config);
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, text)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(text) else { return };
    match kind % 3 {
        0 => {
            if let Ok(fc) = parse_toml(text) {
                apply(fc.broker);
            }
        }
        1 => {
            if let Ok(keys) = weir_mirror::properties::parse(text) {
                apply(keys);
            }
        }
        _ => {
            let _ = weir_mirror::MirrorConfig::parse(text, &[]);
        }
    }
});
