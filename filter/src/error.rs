//! Why a request is refused at the edge, and how each reason is answered: the one place where
//! reasons map to an HTTP status and a stable error code.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("no credentials were presented")]
    MissingCredentials,
    #[error("the credentials were not accepted")]
    InvalidCredentials,
    #[error("more than one credential header was presented")]
    AmbiguousCredentials,
}

impl AuthError {
    pub fn status(self) -> u16 {
        match self {
            AuthError::MissingCredentials
            | AuthError::InvalidCredentials
            | AuthError::AmbiguousCredentials => 401,
        }
    }

    /// Stable, machine-readable code for the JSON body; clients may match on it.
    pub fn code(self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_credentials",
            AuthError::InvalidCredentials => "invalid_credentials",
            AuthError::AmbiguousCredentials => "ambiguous_credentials",
        }
    }

    /// The JSON body of the local reply. Never echoes what the client sent.
    pub fn body(self) -> String {
        serde_json::json!({ "error": self.code(), "message": self.to_string() }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_json_with_stable_code() {
        let body: serde_json::Value =
            serde_json::from_str(&AuthError::InvalidCredentials.body()).unwrap();
        assert_eq!(body["error"], "invalid_credentials");
        assert_eq!(AuthError::InvalidCredentials.status(), 401);
    }
}
