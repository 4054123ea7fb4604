//! Input that checks itself while it is deserialized. Each type here is what an operation holds
//! once serde accepted it; what serde reports when a check fails is the message a caller sees
//! (REST: 400 `invalid_request`; MCP: a tool result with `isError`).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use utoipa::ToSchema;

use crate::vault::path::{InvalidPath, MAX_PATH_LEN, SecretPath, SecretPrefix};

/// Why a value was refused; serde shows its text.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// Secret paths (`vault::path`) as operations take them: a string, checked on the way in.
impl<'de> Deserialize<'de> for SecretPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SecretPath::parse(&raw).map_err(|e| D::Error::custom(InvalidPath::from(e)))
    }
}

impl JsonSchema for SecretPath {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "SecretPath".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "maxLength": MAX_PATH_LEN })
    }
}

impl<'de> Deserialize<'de> for SecretPrefix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        SecretPrefix::parse(&raw).map_err(|e| D::Error::custom(InvalidPath::from(e)))
    }
}

/// Written only as a schema's default (`""`, the agent's root folder).
impl Serialize for SecretPrefix {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl JsonSchema for SecretPrefix {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "SecretPrefix".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // A path plus its trailing '/'.
        json_schema!({ "type": "string", "maxLength": MAX_PATH_LEN + 1 })
    }
}

/// A response-wrapping lifetime as Vault takes it: `30s`, `5m`, `1h` (1 s to 24 h).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema, ToSchema)]
#[serde(try_from = "String")]
#[schemars(inline)]
pub struct WrapTtl(String);

impl WrapTtl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WrapTtl {
    type Error = Invalid;

    fn try_from(ttl: String) -> Result<Self, Invalid> {
        match lifetime_seconds(&ttl) {
            Some(seconds) if (1..=86_400).contains(&seconds) => Ok(Self(ttl)),
            _ => Err(Invalid(
                "wrap_ttl must be like 30s, 5m or 1h, at most 24h".into(),
            )),
        }
    }
}

/// Seconds in a lifetime as Vault writes it: a whole number of seconds, minutes or hours
/// (`30s`, `5m`, `1h`).
pub fn lifetime_seconds(text: &str) -> Option<u64> {
    let units = [("s", 1), ("m", 60), ("h", 3600)];
    let (number, scale) = units
        .iter()
        .find_map(|(unit, scale)| Some((text.strip_suffix(unit)?, *scale)))?;
    // Digits only: `parse` would take a sign.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(number.parse::<u64>().ok()?.saturating_mul(scale))
}

/// Most versions one undelete or destroy may name.
pub const MAX_VERSIONS: usize = 100;

/// Secret versions named by a caller: 1 to [`MAX_VERSIONS`] numbers, each at least 1.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema, ToSchema)]
#[serde(try_from = "Vec<u64>")]
#[schemars(inline, extend("minItems" = 1, "maxItems" = MAX_VERSIONS))]
pub struct Versions(Vec<u64>);

impl Versions {
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    pub fn into_inner(self) -> Vec<u64> {
        self.0
    }
}

impl TryFrom<Vec<u64>> for Versions {
    type Error = Invalid;

    fn try_from(versions: Vec<u64>) -> Result<Self, Invalid> {
        if versions.is_empty() || versions.len() > MAX_VERSIONS {
            return Err(Invalid(format!(
                "versions must list 1 to {MAX_VERSIONS} versions"
            )));
        }
        if versions.contains(&0) {
            return Err(Invalid("versions start at 1".into()));
        }
        Ok(Self(versions))
    }
}

/// Most random bytes one request may ask for.
pub const MAX_RANDOM_BYTES: u32 = 1024;

/// How many random bytes: 1 to [`MAX_RANDOM_BYTES`], 32 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, ToSchema)]
#[serde(try_from = "u32")]
#[schemars(inline, extend("minimum" = 1, "maximum" = MAX_RANDOM_BYTES))]
pub struct RandomSize(u32);

impl RandomSize {
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for RandomSize {
    fn default() -> Self {
        Self(32)
    }
}

impl TryFrom<u32> for RandomSize {
    type Error = Invalid;

    fn try_from(bytes: u32) -> Result<Self, Invalid> {
        if (1..=MAX_RANDOM_BYTES).contains(&bytes) {
            Ok(Self(bytes))
        } else {
            Err(Invalid(format!("bytes must be 1 to {MAX_RANDOM_BYTES}")))
        }
    }
}

/// Data given either as UTF-8 text or as base64 bytes (exactly one).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The data as UTF-8 text.
    #[serde(default)]
    pub text: Option<String>,
    /// The data as standard base64, for binary data.
    #[serde(default)]
    pub base64: Option<String>,
}

/// Data as a caller may give it: base64 in a string (the seed's form), or a [`Payload`].
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DataInput {
    /// Standard base64.
    Base64(String),
    Payload(Payload),
}

/// Data as Vault takes it (standard base64), from either form of [`DataInput`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(try_from = "DataInput")]
#[schemars(
    rename = "Data",
    description = "Data as a base64 string, or as {\"text\"} or {\"base64\"} (exactly one)."
)]
pub struct Data(String);

impl Data {
    fn from_base64(b64: String) -> Result<Self, Invalid> {
        match STANDARD.decode(&b64) {
            Ok(_) => Ok(Self(b64)),
            Err(_) => Err(Invalid("base64 is not valid standard base64".into())),
        }
    }
}

impl TryFrom<DataInput> for Data {
    type Error = Invalid;

    fn try_from(input: DataInput) -> Result<Self, Invalid> {
        match input {
            DataInput::Base64(b64) => Data::from_base64(b64),
            DataInput::Payload(payload) => Data::try_from(payload),
        }
    }
}

impl Data {
    pub fn base64(&self) -> &str {
        &self.0
    }
}

impl TryFrom<Payload> for Data {
    type Error = Invalid;

    fn try_from(payload: Payload) -> Result<Self, Invalid> {
        match (payload.text, payload.base64) {
            (Some(text), None) => Ok(Self(STANDARD.encode(text))),
            (None, Some(b64)) => Data::from_base64(b64),
            _ => Err(Invalid("give exactly one of text and base64".into())),
        }
    }
}

/// The name of one of the agent's own Transit keys (the seed's `key`): letters, digits, `-`
/// and `_`, at most 64. Whatever it says, it names a key in the caller's own corner
/// (`vault::transit::named_key`): another agent's name only reaches the caller's key of that name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema, ToSchema)]
#[serde(try_from = "String")]
#[schemars(inline, extend("maxLength" = 64, "pattern" = "^[A-Za-z0-9_-]+$"))]
pub struct KeyName(String);

impl KeyName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyName {
    type Error = Invalid;

    fn try_from(name: String) -> Result<Self, Invalid> {
        if is_name(&name, 64) {
            Ok(Self(name))
        } else {
            Err(Invalid(
                "key must be 1 to 64 letters, digits, - and _".into(),
            ))
        }
    }
}

/// Letters, digits, `-` and `_`, 1 to `max` of them.
fn is_name(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A role of a secrets engine (database, SSH): letters, digits, `-` and `_`, at most 128.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema, ToSchema)]
#[serde(try_from = "String")]
#[schemars(inline, extend("maxLength" = 128, "pattern" = "^[A-Za-z0-9_-]+$"))]
pub struct RoleName(String);

impl RoleName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The role to use: the one asked for if `allowed` lists it, else the first allowed (none
/// asked). A role not on the list is refused (403), known to Vault or not.
pub fn allowed_role<'a>(
    allowed: &'a [String],
    asked: Option<&'a RoleName>,
) -> Result<&'a str, crate::error::ApiError> {
    match asked {
        Some(role) if allowed.iter().any(|r| r == role.as_str()) => Ok(role.as_str()),
        Some(role) => Err(crate::error::ApiError::NotAllowed(format!(
            "the role '{}' is not one this agent may use",
            role.as_str()
        ))),
        None => allowed
            .first()
            .map(String::as_str)
            .ok_or_else(|| crate::error::ApiError::NotAllowed("no role is configured".into())),
    }
}

impl TryFrom<String> for RoleName {
    type Error = Invalid;

    fn try_from(role: String) -> Result<Self, Invalid> {
        if is_name(&role, 128) {
            Ok(Self(role))
        } else {
            Err(Invalid("role must be letters, digits, - and _".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn paths_are_checked_while_deserialized() {
        let path: SecretPath = parse(r#""configs/demo""#).unwrap();
        assert_eq!(path.as_str(), "configs/demo");
        let error = parse::<SecretPath>(r#""../x""#).unwrap_err();
        assert!(
            error.starts_with(crate::vault::path::INVALID_PATH),
            "{error}"
        );
        let root: SecretPrefix = parse(r#""""#).unwrap();
        assert_eq!(root, SecretPrefix::default());
        assert!(parse::<SecretPrefix>(r#""a//""#).is_err());
    }

    #[test]
    fn wrap_ttls() {
        for ok in [r#""30s""#, r#""5m""#, r#""24h""#] {
            assert!(parse::<WrapTtl>(ok).is_ok(), "{ok}");
        }
        for bad in [r#""0s""#, r#""25h""#, r#""1d""#, r#""""#, r#""m""#, "30"] {
            assert!(parse::<WrapTtl>(bad).is_err(), "{bad}");
        }
        // A character of several bytes at the end is refused, not a panic.
        for bad in ["1é", "é", "5€", "+5m"] {
            assert!(lifetime_seconds(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn versions_and_sizes() {
        assert_eq!(parse::<Versions>("[1,2]").unwrap().into_inner(), [1, 2]);
        assert!(parse::<Versions>("[]").unwrap_err().contains("1 to 100"));
        assert!(parse::<Versions>("[0]").unwrap_err().contains("start at 1"));
        let many = format!("[{}]", vec!["1"; 101].join(","));
        assert!(parse::<Versions>(&many).is_err());
        assert_eq!(parse::<RandomSize>("1024").unwrap().get(), 1024);
        assert!(parse::<RandomSize>("0").is_err() && parse::<RandomSize>("1025").is_err());
        assert_eq!(RandomSize::default().get(), 32);
    }

    #[test]
    fn payloads() {
        let text: Data = parse(r#"{"text": "hi"}"#).unwrap();
        assert_eq!(text.base64(), "aGk=");
        let b64: Data = parse(r#"{"base64": "aGk="}"#).unwrap();
        assert_eq!(b64.base64(), "aGk=");
        for bad in [
            "{}",
            r#"{"text": "a", "base64": "YQ=="}"#,
            r#"{"base64": "***"}"#,
            r#"{"bytes": "YQ=="}"#,
        ] {
            assert!(parse::<Data>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn data_as_the_seed_sends_it_or_as_a_payload() {
        assert_eq!(parse::<Data>(r#""aGk=""#).unwrap().base64(), "aGk=");
        assert_eq!(parse::<Data>(r#"{"text": "hi"}"#).unwrap().base64(), "aGk=");
        assert!(parse::<Data>(r#""not base64!""#).is_err());
        assert!(parse::<Data>("42").is_err());
    }

    #[test]
    fn key_names() {
        assert!(parse::<KeyName>(r#""k""#).is_ok() && parse::<KeyName>(r#""app-key_2""#).is_ok());
        for bad in ["", "../x", "*", "a.b", "a/b", &"k".repeat(65)] {
            assert!(parse::<KeyName>(&format!("{bad:?}")).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_names() {
        assert!(parse::<RoleName>(r#""readonly""#).is_ok());
        assert!(parse::<RoleName>(r#""app-rw_2""#).is_ok());
        for bad in ["", "../x", "a/b", "a b", &"x".repeat(129)] {
            assert!(parse::<RoleName>(&format!("{bad:?}")).is_err(), "{bad}");
        }
    }
}
