//! Access tokens for the BigQuery API: a given token, a service account key
//! (a signed JWT exchanged at its token URI), application default
//! credentials, and service-account impersonation on top of any of them.
//! Tokens are cached until shortly before they expire and never printed.

use super::config::AuthMethod;
use super::error::BigQueryError;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Mutex;

const SCOPE: &str =
    "https://www.googleapis.com/auth/bigquery https://www.googleapis.com/auth/cloud-platform";
const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
const METADATA_TOKEN_URI: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";

enum Source {
    Fixed(String),
    ServiceAccount {
        client_email: String,
        private_key: String,
        token_uri: String,
    },
    Refresh {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
    Metadata,
}

pub struct Credentials {
    source: Source,
    impersonate: Option<String>,
    http: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

fn auth_error(message: impl Into<String>, help: impl Into<String>) -> BigQueryError {
    BigQueryError::Auth {
        message: message.into(),
        help: help.into(),
    }
}

fn field(key: &Value, name: &str, what: &str) -> Result<String, BigQueryError> {
    key.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            auth_error(
                format!("{what} has no `{name}`"),
                "use a key downloaded from IAM > Service accounts > Keys (JSON)",
            )
        })
}

fn service_account(key: &Value, what: &str) -> Result<Source, BigQueryError> {
    Ok(Source::ServiceAccount {
        client_email: field(key, "client_email", what)?,
        private_key: field(key, "private_key", what)?,
        token_uri: key
            .get("token_uri")
            .and_then(Value::as_str)
            .unwrap_or(GOOGLE_TOKEN_URI)
            .to_string(),
    })
}

fn read_key_file(path: &std::path::Path) -> Result<Value, BigQueryError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        auth_error(
            format!("cannot read the key file {}: {e}", path.display()),
            "check `keyfile` in profiles.yml (or GOOGLE_APPLICATION_CREDENTIALS)",
        )
    })?;
    serde_json::from_str(&text).map_err(|e| {
        auth_error(
            format!("the key file {} is not JSON: {e}", path.display()),
            "point `keyfile` at the JSON key of a service account",
        )
    })
}

/// Application default credentials, in gcloud's order.
fn application_default() -> Result<Source, BigQueryError> {
    let path = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let p = std::path::Path::new(&home)
                .join(".config/gcloud/application_default_credentials.json");
            p.is_file().then_some(p)
        });
    let Some(path) = path else {
        return Ok(Source::Metadata);
    };
    let key = read_key_file(&path)?;
    let what = format!("the credentials file {}", path.display());
    match key.get("type").and_then(Value::as_str) {
        Some("service_account") => service_account(&key, &what),
        Some("authorized_user") => Ok(Source::Refresh {
            client_id: field(&key, "client_id", &what)?,
            client_secret: field(&key, "client_secret", &what)?,
            refresh_token: field(&key, "refresh_token", &what)?,
            token_uri: GOOGLE_TOKEN_URI.into(),
        }),
        other => Err(auth_error(
            format!(
                "{what} has type {}, which rdbt cannot use",
                other.unwrap_or("(none)")
            ),
            "run `gcloud auth application-default login`, or use `method: service-account`",
        )),
    }
}

impl Credentials {
    pub fn new(
        method: &AuthMethod,
        impersonate: Option<String>,
        http: reqwest::Client,
    ) -> Result<Credentials, BigQueryError> {
        let source = match method {
            AuthMethod::ServiceAccountFile(path) => service_account(
                &read_key_file(path)?,
                &format!("the key file {}", path.display()),
            )?,
            AuthMethod::ServiceAccountJson(json) => {
                let key = match json {
                    Value::String(s) => serde_json::from_str(s).map_err(|e| {
                        auth_error(
                            format!("`keyfile_json` is not JSON: {e}"),
                            "paste the key's fields, or use `keyfile:` with its path",
                        )
                    })?,
                    other => other.clone(),
                };
                service_account(&key, "`keyfile_json`")?
            }
            AuthMethod::ApplicationDefault => application_default()?,
            AuthMethod::Secrets {
                token,
                refresh_token,
                client_id,
                client_secret,
                token_uri,
            } => match (token, refresh_token) {
                (Some(t), _) => Source::Fixed(t.clone()),
                (None, Some(r)) => Source::Refresh {
                    client_id: client_id.clone().unwrap_or_default(),
                    client_secret: client_secret.clone().unwrap_or_default(),
                    refresh_token: r.clone(),
                    token_uri: token_uri.clone().unwrap_or_else(|| GOOGLE_TOKEN_URI.into()),
                },
                (None, None) => {
                    return Err(auth_error(
                        "`method: oauth-secrets` needs `token` or `refresh_token`",
                        "set one of them in profiles.yml",
                    ));
                }
            },
        };
        Ok(Credentials {
            source,
            impersonate,
            http,
            cached: Mutex::new(None),
        })
    }

    /// A bearer token valid for at least a minute.
    pub async fn token(&self) -> Result<String, BigQueryError> {
        if let Source::Fixed(t) = &self.source
            && self.impersonate.is_none()
        {
            return Ok(t.clone());
        }
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() + Duration::from_secs(60) < *until
        {
            return Ok(token.clone());
        }
        let (mut token, mut lifetime) = self.fetch().await?;
        if let Some(account) = &self.impersonate {
            (token, lifetime) = self.impersonated(&token, account).await?;
        }
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Forgets the cached token (after the API said it was not accepted).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<(String, Duration), BigQueryError> {
        match &self.source {
            Source::Fixed(t) => Ok((t.clone(), Duration::from_secs(3600))),
            Source::ServiceAccount {
                client_email,
                private_key,
                token_uri,
            } => {
                let assertion = signed_jwt(client_email, private_key, token_uri)?;
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
                    .append_pair("assertion", &assertion)
                    .finish();
                self.exchange(token_uri, body).await
            }
            Source::Refresh {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let body = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", client_secret)
                    .append_pair("refresh_token", refresh_token)
                    .finish();
                self.exchange(token_uri, body).await
            }
            Source::Metadata => {
                let response = self
                    .http
                    .get(METADATA_TOKEN_URI)
                    .header("Metadata-Flavor", "Google")
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .map_err(|_| {
                        auth_error(
                            "no Google credentials found: GOOGLE_APPLICATION_CREDENTIALS is not set, gcloud has no application default credentials, and this is not a Google Cloud machine",
                            "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, or use `method: service-account` with a `keyfile`",
                        )
                    })?;
                token_response(response).await
            }
        }
    }

    async fn exchange(&self, uri: &str, body: String) -> Result<(String, Duration), BigQueryError> {
        let response = self
            .http
            .post(uri)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| BigQueryError::Network(format!("token endpoint {uri}: {e}")))?;
        token_response(response).await
    }

    async fn impersonated(
        &self,
        token: &str,
        account: &str,
    ) -> Result<(String, Duration), BigQueryError> {
        let uri = format!(
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{account}:generateAccessToken"
        );
        let body =
            serde_json::json!({"scope": SCOPE.split(' ').collect::<Vec<_>>(), "lifetime": "3600s"});
        let response = self
            .http
            .post(&uri)
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| BigQueryError::Network(format!("IAM credentials API: {e}")))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(auth_error(
                format!("cannot impersonate {account} (HTTP {status})"),
                "grant the caller roles/iam.serviceAccountTokenCreator on that service account",
            ));
        }
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        let t = v
            .get("accessToken")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                BigQueryError::Protocol("generateAccessToken gave no accessToken".into())
            })?;
        Ok((t.to_string(), Duration::from_secs(3600)))
    }
}

async fn token_response(response: reqwest::Response) -> Result<(String, Duration), BigQueryError> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let v: Value = serde_json::from_str(&text).unwrap_or_default();
    if !status.is_success() {
        let reason = v
            .get("error_description")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(auth_error(
            format!("Google refused the credentials (HTTP {status}): {reason}"),
            "check that the key or refresh token is current and not revoked",
        ));
    }
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| BigQueryError::Protocol("the token endpoint gave no access_token".into()))?;
    let seconds = v.get("expires_in").and_then(Value::as_u64).unwrap_or(3600);
    Ok((token.to_string(), Duration::from_secs(seconds)))
}

/// The JWT a service account signs to ask for a token (RFC 7523).
fn signed_jwt(
    client_email: &str,
    private_key: &str,
    audience: &str,
) -> Result<String, BigQueryError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "iss": client_email, "scope": SCOPE, "aud": audience, "iat": now, "exp": now + 3600,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let message = format!("{header}.{claims}");
    let der = pem_body(private_key)?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|_| {
        auth_error(
            "the service account's `private_key` is not a PKCS#8 RSA key",
            "download a new JSON key for the service account",
        )
    })?;
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message.as_bytes(),
        &mut signature,
    )
    .map_err(|_| BigQueryError::Protocol("signing the token request failed".into()))?;
    Ok(format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn pem_body(pem: &str) -> Result<Vec<u8>, BigQueryError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).map_err(|_| {
        auth_error(
            "the service account's `private_key` is not PEM",
            "download a new JSON key for the service account",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_private_key_is_an_auth_error_without_the_key() {
        let e = signed_jwt(
            "a@b.iam",
            "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----",
            GOOGLE_TOKEN_URI,
        )
        .unwrap_err();
        let shown = e.to_string();
        assert!(shown.contains("PKCS#8"), "{shown}");
        assert!(!shown.contains("bm90IGEga2V5"), "{shown}");
    }
}
