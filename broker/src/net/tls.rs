//! TLS for SSL listeners (rustls with the ring provider), configured with
//! Kafka's names:
//! - `ssl.keystore.type=PEM` and `ssl.keystore.location`: one PEM file with the
//!   private key (PKCS#8, PKCS#1 or SEC1, unencrypted) and the certificate
//!   chain, leaf first (Kafka's PEM keystore);
//! - `ssl.truststore.type=PEM` and `ssl.truststore.location`: the CAs client
//!   certificates are checked against;
//! - `ssl.client.auth`: `none`, `requested` (a certificate is checked if
//!   given) or `required`;
//! - `ssl.principal.mapping.rules`: how a client certificate's subject becomes
//!   the principal (`User:<name>`), Kafka's rules (see [`PrincipalMapper`]).
//!
//! The files are checked for changes every [`reload_every`]; a changed
//! keystore or truststore is loaded without a restart and used by new
//! connections (a file that does not load is logged and the old one kept).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::BrokerError;

mod principal;

pub use principal::{subject_dn, PrincipalMapper};

/// How often the keystore and truststore files are checked for changes (30 s;
/// `WEIR_TLS_RELOAD_MS` changes it, for tests).
pub fn reload_every() -> Duration {
    let ms = std::env::var("WEIR_TLS_RELOAD_MS").ok().and_then(|v| v.parse::<u64>().ok()).filter(|ms| *ms >= 100);
    Duration::from_millis(ms.unwrap_or(30_000))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// What SSL listeners are configured with.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub keystore: PathBuf,
    pub truststore: Option<PathBuf>,
    pub client_auth: ClientAuth,
    pub mapping_rules: String,
}

fn config_error(m: impl Into<String>) -> BrokerError {
    BrokerError::Config(m.into())
}

impl TlsSettings {
    /// From the broker's `ssl.*` keys; an error names what is missing or unsupported.
    pub fn from_keys(get: impl Fn(&str) -> String) -> Result<TlsSettings, BrokerError> {
        let ty = get("ssl.keystore.type");
        if !ty.eq_ignore_ascii_case("PEM") {
            return Err(config_error(format!(
                "ssl.keystore.type: '{ty}' is not supported; set ssl.keystore.type=PEM with ssl.keystore.location \
                 naming a PEM file holding the private key and the certificate chain \
                 (openssl pkcs12 -in store.p12 -nodes converts a PKCS12 store)"
            )));
        }
        let keystore = get("ssl.keystore.location");
        if keystore.is_empty() {
            return Err(config_error(
                "an SSL listener needs ssl.keystore.location (a PEM file: key and certificate chain)",
            ));
        }
        if !get("ssl.key.password").is_empty() {
            return Err(config_error(
                "ssl.key.password: encrypted private keys are not supported; decrypt the key \
                 (openssl pkcs8 -topk8 -nocrypt) and protect the file with its permissions",
            ));
        }
        let truststore = Some(get("ssl.truststore.location")).filter(|t| !t.is_empty()).map(PathBuf::from);
        let tty = get("ssl.truststore.type");
        if truststore.is_some() && !tty.eq_ignore_ascii_case("PEM") {
            return Err(config_error(format!(
                "ssl.truststore.type: '{tty}' is not supported; use PEM (a file of CA certificates)"
            )));
        }
        let client_auth = match get("ssl.client.auth").to_ascii_lowercase().as_str() {
            "" | "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            other => {
                return Err(config_error(format!("ssl.client.auth: '{other}' must be none, requested or required")))
            }
        };
        if client_auth != ClientAuth::None && truststore.is_none() {
            return Err(config_error(format!(
                "ssl.client.auth={}: client certificates need ssl.truststore.location (the CAs to check them against)",
                get("ssl.client.auth")
            )));
        }
        let mapping_rules = get("ssl.principal.mapping.rules");
        PrincipalMapper::parse(&mapping_rules)
            .map_err(|e| config_error(format!("ssl.principal.mapping.rules: {e}")))?;
        Ok(TlsSettings { keystore: PathBuf::from(keystore), truststore, client_auth, mapping_rules })
    }
}

/// The TLS side of the SSL listeners: the current server configuration and
/// what it was loaded from.
pub struct Tls {
    settings: TlsSettings,
    current: RwLock<(TlsAcceptor, Vec<Option<SystemTime>>)>,
    mapper: PrincipalMapper,
}

pub(crate) fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Tls {
    pub fn load(settings: TlsSettings) -> Result<Tls, BrokerError> {
        let mapper = PrincipalMapper::parse(&settings.mapping_rules).map_err(config_error)?;
        let stamps = Tls::stamps(&settings);
        let acceptor = build(&settings)?;
        Ok(Tls { settings, current: RwLock::new((acceptor, stamps)), mapper })
    }

    fn stamps(s: &TlsSettings) -> Vec<Option<SystemTime>> {
        std::iter::once(&s.keystore).chain(s.truststore.as_ref()).map(|p| modified(p)).collect()
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().0.clone()
    }

    pub fn mapper(&self) -> &PrincipalMapper {
        &self.mapper
    }

    /// Loads the files again if they changed; Ok(true) when the new ones are in use.
    pub fn reload_if_changed(&self) -> Result<bool, BrokerError> {
        let stamps = Tls::stamps(&self.settings);
        if self.current.read().1 == stamps {
            return Ok(false);
        }
        let result = build(&self.settings);
        let mut cur = self.current.write();
        // Not retried until the files change again.
        cur.1 = stamps;
        cur.0 = result?;
        Ok(true)
    }
}

/// Loads changed keystore and truststore files every [`reload_every`] until
/// `stop` changes; `listener` names the listener in the log.
pub async fn reload_loop(tls: Arc<Tls>, mut stop: tokio::sync::watch::Receiver<bool>, listener: &'static str) {
    let mut tick = tokio::time::interval(reload_every());
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let t = tls.clone();
        match tokio::task::spawn_blocking(move || t.reload_if_changed()).await {
            Ok(Ok(true)) => {
                tracing::info!(listener, "TLS keystore or truststore changed: reloaded for new connections")
            }
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::error!(listener, error = %e, "TLS files changed but do not load; keeping the previous ones")
            }
            Err(e) => tracing::error!(listener, error = %e, "TLS reload task failed"),
        }
    }
}

/// The ring provider: it builds with a C compiler alone (aws-lc-rs needs
/// CMake). rustls deprecates it for lacking post-quantum key exchange, which
/// Kafka clients (OpenSSL, Java, Node) do not negotiate yet either.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn build(s: &TlsSettings) -> Result<TlsAcceptor, BrokerError> {
    let ks = s.keystore.display();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&s.keystore)
        .map_err(|e| config_error(format!("ssl.keystore.location {ks}: {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| config_error(format!("ssl.keystore.location {ks}: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(format!("ssl.keystore.location {ks}: no certificate in the file")));
    }
    let key = PrivateKeyDer::from_pem_file(&s.keystore)
        .map_err(|e| config_error(format!("ssl.keystore.location {ks}: no usable private key ({e})")))?;
    let provider = provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS: {e}")))?;
    let builder = match (&s.truststore, s.client_auth) {
        (Some(path), auth) if auth != ClientAuth::None => {
            let mut roots = rustls::RootCertStore::empty();
            let ts = path.display();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| config_error(format!("ssl.truststore.location {ts}: {e}")))?
            {
                let cert = cert.map_err(|e| config_error(format!("ssl.truststore.location {ts}: {e}")))?;
                roots.add(cert).map_err(|e| config_error(format!("ssl.truststore.location {ts}: {e}")))?;
            }
            if roots.is_empty() {
                return Err(config_error(format!("ssl.truststore.location {ts}: no CA certificate in the file")));
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Requested { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier.build().map_err(|e| config_error(format!("ssl.truststore.location {ts}: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| config_error(format!("ssl.keystore.location {ks}: the key does not fit the certificate ({e})")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Ca {
        cert: rcgen::Certificate,
        key: KeyPair,
    }

    fn ca(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        Ca { cert: p.self_signed(&key).unwrap(), key }
    }

    /// (certificate PEM, key PEM) signed by `ca`.
    fn leaf(ca: &Ca, sans: &[&str], dn: &[(DnType, &str)]) -> (String, String) {
        let mut p = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        for (t, v) in dn {
            p.distinguished_name.push(t.clone(), *v);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client_config(ca: &Ca, identity: Option<&(String, String)>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        let b = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        Arc::new(match identity {
            Some((cert, key)) => b
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
                )
                .unwrap(),
            None => b.with_no_client_auth(),
        })
    }

    /// Connects through `tls` with `client`; the principal the server sees, or the handshake error.
    async fn handshake(tls: &Tls, client: Arc<rustls::ClientConfig>) -> Result<Option<String>, String> {
        let (a, b) = tokio::io::duplex(64 << 10);
        let acceptor = tls.acceptor();
        let server = tokio::spawn(async move {
            let mut s = acceptor.accept(a).await.map_err(|e| e.to_string())?;
            let dn = s.get_ref().1.peer_certificates().and_then(|c| c.first()).and_then(|c| subject_dn(c));
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            s.write_all(&buf).await.map_err(|e| e.to_string())?;
            s.flush().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(dn)
        });
        let connector = tokio_rustls::TlsConnector::from(client);
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let talk = async {
            let mut c = connector.connect(name, b).await.map_err(|e| e.to_string())?;
            c.write_all(b"ping").await.map_err(|e| e.to_string())?;
            c.flush().await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            assert_eq!(&buf, b"ping");
            Ok::<_, String>(())
        };
        let client = talk.await;
        let server = server.await.unwrap();
        client?;
        server.map(|dn| dn.map(|dn| tls.mapper().map(&dn).unwrap()))
    }

    #[tokio::test]
    async fn client_certificates_name_the_principal_and_files_reload() {
        let dir = tempfile::tempdir().unwrap();
        let ca1 = ca("weir test CA");
        let (cert, key) = leaf(&ca1, &["127.0.0.1"], &[(DnType::CommonName, "broker")]);
        let keystore = dir.path().join("broker.pem");
        std::fs::write(&keystore, format!("{key}{cert}")).unwrap();
        let truststore = dir.path().join("ca.pem");
        std::fs::write(&truststore, ca1.cert.pem()).unwrap();
        let settings = |auth: &str, rules: &str| {
            let keys: std::collections::BTreeMap<&str, String> = [
                ("ssl.keystore.type", "PEM".to_string()),
                ("ssl.keystore.location", keystore.display().to_string()),
                ("ssl.truststore.type", "PEM".to_string()),
                ("ssl.truststore.location", truststore.display().to_string()),
                ("ssl.client.auth", auth.to_string()),
                ("ssl.principal.mapping.rules", rules.to_string()),
            ]
            .into_iter()
            .collect();
            TlsSettings::from_keys(|k| keys.get(k).cloned().unwrap_or_default())
        };
        let alice = leaf(
            &ca1,
            &[],
            &[(DnType::CountryName, "US"), (DnType::OrganizationalUnitName, "eng"), (DnType::CommonName, "alice")],
        );
        let tls = Tls::load(settings("required", "RULE:^CN=([^,]+),OU=eng,.*$/$1/,DEFAULT").unwrap()).unwrap();
        assert_eq!(handshake(&tls, client_config(&ca1, Some(&alice))).await, Ok(Some("alice".into())));
        assert!(handshake(&tls, client_config(&ca1, None)).await.is_err(), "required: no certificate, no connection");
        let stranger = leaf(&ca("other CA"), &[], &[(DnType::CommonName, "mallory")]);
        assert!(handshake(&tls, client_config(&ca1, Some(&stranger))).await.is_err(), "a certificate of another CA");

        let requested = Tls::load(settings("requested", "").unwrap()).unwrap();
        assert_eq!(handshake(&requested, client_config(&ca1, None)).await, Ok(None), "requested: optional");
        assert_eq!(
            handshake(&requested, client_config(&ca1, Some(&alice))).await,
            Ok(Some("CN=alice,OU=eng,C=US".into())),
            "DEFAULT: the subject, most specific first"
        );

        // A new certificate from another CA: loaded once the file changes.
        let ca2 = ca("second CA");
        let (cert2, key2) = leaf(&ca2, &["127.0.0.1"], &[(DnType::CommonName, "broker")]);
        assert!(!requested.reload_if_changed().unwrap());
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(&keystore, format!("{key2}{cert2}")).unwrap();
        let f = std::fs::File::options().append(true).open(&keystore).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(5)).unwrap();
        assert!(requested.reload_if_changed().unwrap(), "the keystore changed");
        assert!(handshake(&requested, client_config(&ca1, None)).await.is_err(), "the old CA no longer fits");
        assert_eq!(handshake(&requested, client_config(&ca2, None)).await, Ok(None));
        // A broken file is refused and the working one kept.
        std::fs::write(&keystore, "not a pem").unwrap();
        let f = std::fs::File::options().append(true).open(&keystore).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(10)).unwrap();
        assert!(requested.reload_if_changed().is_err());
        assert_eq!(handshake(&requested, client_config(&ca2, None)).await, Ok(None), "still serving");
    }

    #[test]
    fn settings_say_what_is_wrong() {
        let with = |pairs: &[(&str, &str)]| {
            let keys: std::collections::BTreeMap<String, String> =
                pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            TlsSettings::from_keys(|k| {
                keys.get(k).cloned().unwrap_or_else(|| if k.ends_with(".type") { "PEM".into() } else { String::new() })
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert!(with(&[]).unwrap_err().contains("ssl.keystore.location"));
        assert!(with(&[("ssl.keystore.location", "k.pem"), ("ssl.keystore.type", "JKS")]).unwrap_err().contains("PEM"));
        assert!(with(&[("ssl.keystore.location", "k.pem"), ("ssl.client.auth", "required")])
            .unwrap_err()
            .contains("truststore"));
        assert!(with(&[("ssl.keystore.location", "k.pem"), ("ssl.client.auth", "maybe")])
            .unwrap_err()
            .contains("none, requested or required"));
        assert!(with(&[("ssl.keystore.location", "k.pem"), ("ssl.key.password", "x")])
            .unwrap_err()
            .contains("encrypted"));
        assert!(with(&[("ssl.keystore.location", "k.pem"), ("ssl.principal.mapping.rules", "RULE:x")]).is_err());
        assert!(with(&[("ssl.keystore.location", "k.pem")]).is_ok());
        let missing = Tls::load(TlsSettings {
            keystore: "/nonexistent/k.pem".into(),
            truststore: None,
            client_auth: ClientAuth::None,
            mapping_rules: String::new(),
        });
        assert!(missing.err().unwrap().to_string().contains("/nonexistent/k.pem"));
    }
}
