//! Client-certificate identity. The certificate is verified by Envoy's TLS termination; this
//! module only reads who it names, from one configured source:
//! - `connection`: the peer certificate of this connection (Envoy's connection properties);
//! - `xfcc`: the `x-forwarded-client-cert` header, as Envoy's connection manager writes it with
//!   `forward_client_cert_details: SANITIZE_SET` (client-sent values are replaced);
//! - `trusted_headers`: `x-ssl-client-verify` / `x-ssl-client-s-dn` set by a proxy in front.
//!   Only safe when that proxy overwrites them: Envoy does not remove them by itself.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::identity::Identity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MtlsSource {
    Connection,
    Xfcc,
    TrustedHeaders,
}

pub const XFCC: &str = "x-forwarded-client-cert";
pub const SSL_CLIENT_VERIFY: &str = "x-ssl-client-verify";
pub const SSL_CLIENT_S_DN: &str = "x-ssl-client-s-dn";

#[derive(Debug, Clone)]
pub struct MtlsPolicy {
    pub source: MtlsSource,
    /// Required start of the CN, removed to give the subject (e.g. `agent:`).
    pub cn_prefix: String,
    /// Subject → scopes. A certificate naming anyone else is refused.
    pub identities: BTreeMap<String, Vec<String>>,
}

/// The outcome of looking for a client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertIdentity {
    /// No certificate on this request.
    Absent,
    /// A certificate that names no one (no single CN, or not the configured prefix).
    Unknown,
    /// A certificate whose name (its CN without the prefix) is not a configured identity: the
    /// agent registry may know it.
    Named(String),
    Known(Identity),
}

/// What a registry record may give as the certificate name it answers to: printable ASCII,
/// none of the characters a DN uses as syntax.
pub fn is_valid_certificate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b",/\\\"=+;<>#".contains(&b) || b == b' ')
        && name.trim() == name
}

impl MtlsPolicy {
    /// `peer_subject` is the connection's peer certificate subject DN, when there is one.
    /// `header` finds the first value of a request header.
    pub fn identify<'a>(
        &self,
        peer_subject: Option<&'a str>,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> CertIdentity {
        let dn = match self.source {
            MtlsSource::Connection => peer_subject.map(str::to_string),
            MtlsSource::Xfcc => header(XFCC).and_then(xfcc_subject),
            MtlsSource::TrustedHeaders => match header(SSL_CLIENT_VERIFY) {
                Some(v) if v.eq_ignore_ascii_case("SUCCESS") => {
                    header(SSL_CLIENT_S_DN).map(str::to_string)
                }
                _ => None,
            },
        };
        let Some(dn) = dn else {
            return CertIdentity::Absent;
        };
        let Some(name) = common_name(&dn).and_then(|cn| cn.strip_prefix(self.cn_prefix.as_str()))
        else {
            return CertIdentity::Unknown;
        };
        match self.identities.get_key_value(name) {
            Some((subject, scopes)) => {
                CertIdentity::Known(Identity::new(subject.clone(), scopes.iter().cloned()))
            }
            None => CertIdentity::Named(name.to_string()),
        }
    }
}

impl MtlsPolicy {
    /// The hex SHA-256 of the request's client certificate, where the source names it: the
    /// connection's, or the `Hash` of the nearest XFCC element. Trusted headers carry none.
    pub fn certificate_sha256<'a>(
        &self,
        peer_sha256: Option<&'a str>,
        header: impl Fn(&str) -> Option<&'a str>,
    ) -> Option<String> {
        match self.source {
            MtlsSource::Connection => peer_sha256.map(str::to_string),
            MtlsSource::Xfcc => header(XFCC).and_then(|xfcc| xfcc_field(xfcc, "Hash")),
            MtlsSource::TrustedHeaders => None,
        }
    }
}

/// The CN of a distinguished name, in RFC 4514 form (`CN=a,O=b`, as Envoy writes it) or the
/// OpenSSL one-line form (`/O=b/CN=a`). A DN with more than one CN names nobody.
pub fn common_name(dn: &str) -> Option<&str> {
    let parts: Vec<&str> = if dn.starts_with('/') {
        dn.split('/').collect()
    } else {
        // Escaped commas (`\,`) never appear in a valid subject; a CN with one is refused below.
        dn.split(',').collect()
    };
    let mut cns = parts.iter().filter_map(|part| {
        let (key, value) = part.trim().split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("CN")
            .then_some(value.trim())
    });
    let cn = cns.next()?;
    if cns.next().is_some() || cn.contains('\\') {
        return None;
    }
    Some(cn)
}

/// The `Subject` of the last element of an XFCC header (the one the nearest Envoy added).
pub fn xfcc_subject(xfcc: &str) -> Option<String> {
    xfcc_field(xfcc, "Subject")
}

/// The field `name` of the last element of an XFCC header, unquoted.
fn xfcc_field(xfcc: &str, name: &str) -> Option<String> {
    let element = split_unquoted(xfcc, ',').into_iter().last()?;
    for pair in split_unquoted(element, ';') {
        let (key, value) = pair.split_once('=')?;
        if key.trim().eq_ignore_ascii_case(name) {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            return Some(value.replace("\\\"", "\""));
        }
    }
    None
}

/// Splits at `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(source: MtlsSource) -> MtlsPolicy {
        MtlsPolicy {
            source,
            cn_prefix: String::new(),
            identities: [("agent_api".to_string(), vec!["read".to_string()])].into(),
        }
    }

    #[test]
    fn common_names() {
        let cases = [
            ("CN=agent_api,O=Bridge", Some("agent_api")),
            ("O=Bridge, CN=agent_api", Some("agent_api")),
            ("/C=DE/O=Bridge/CN=agent_api", Some("agent_api")),
            ("O=Bridge", None),
            ("CN=a,CN=b", None),
            ("CN=agent_api\\,O=x", None),
            ("", None),
        ];
        for (dn, expected) in cases {
            assert_eq!(common_name(dn), expected, "{dn}");
        }
    }

    #[test]
    fn xfcc_subjects() {
        let one = r#"By=spiffe://bridge;Hash=abc;Subject="CN=agent_api,O=Bridge";URI="#;
        assert_eq!(xfcc_subject(one).as_deref(), Some("CN=agent_api,O=Bridge"));
        let two = format!(r#"Hash=1;Subject="CN=spoof,O=x",{one}"#);
        assert_eq!(xfcc_subject(&two).as_deref(), Some("CN=agent_api,O=Bridge"));
        assert_eq!(xfcc_subject("Hash=1;URI=x"), None);
        assert_eq!(xfcc_field(&two, "Hash").as_deref(), Some("abc"));
    }

    #[test]
    fn sources() {
        let headers = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        let known = CertIdentity::Known(Identity::new("agent_api", ["read".to_string()]));
        let connection = policy(MtlsSource::Connection);
        assert_eq!(
            connection.identify(Some("CN=agent_api"), headers(&[])),
            known
        );
        assert_eq!(
            connection.identify(Some("CN=other"), headers(&[])),
            CertIdentity::Named("other".into())
        );
        assert_eq!(
            connection.identify(Some("O=nobody"), headers(&[])),
            CertIdentity::Unknown
        );
        // In connection mode, headers never count.
        assert_eq!(
            connection.identify(None, headers(&[(XFCC, "Subject=\"CN=agent_api\"")])),
            CertIdentity::Absent
        );
        let xfcc = policy(MtlsSource::Xfcc);
        assert_eq!(
            xfcc.identify(None, headers(&[(XFCC, "Hash=1;Subject=\"CN=agent_api\"")])),
            known
        );
        let trusted = policy(MtlsSource::TrustedHeaders);
        assert_eq!(
            trusted.identify(
                None,
                headers(&[
                    (SSL_CLIENT_VERIFY, "SUCCESS"),
                    (SSL_CLIENT_S_DN, "CN=agent_api")
                ])
            ),
            known
        );
        assert_eq!(
            trusted.identify(
                None,
                headers(&[
                    (SSL_CLIENT_VERIFY, "FAILED"),
                    (SSL_CLIENT_S_DN, "CN=agent_api")
                ])
            ),
            CertIdentity::Absent
        );
        let prefixed = MtlsPolicy {
            cn_prefix: "agent:".into(),
            ..policy(MtlsSource::Connection)
        };
        assert_eq!(
            prefixed.identify(Some("CN=agent:agent_api"), headers(&[])),
            known
        );
        assert_eq!(
            prefixed.identify(Some("CN=agent_api"), headers(&[])),
            CertIdentity::Unknown
        );
    }

    #[test]
    fn certificate_names() {
        for ok in ["agent_api", "billing bot.clients", "a-b_c:1"] {
            assert!(is_valid_certificate_name(ok), "{ok}");
        }
        for bad in [
            "",
            " a",
            "a ",
            "a,b",
            "a/b",
            "a\\b",
            "a=b",
            "a\"b",
            "ä",
            &"x".repeat(257),
        ] {
            assert!(!is_valid_certificate_name(bad), "{bad:?}");
        }
    }
}
