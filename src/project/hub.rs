//! Packages from the dbt package hub, as dbt resolves them: the hub's JSON
//! API (`<hub>/api/v1/<org>/<name>.json`) lists each package's versions,
//! their tarballs and their own hub dependencies; every version constraint
//! in the tree is gathered, the highest version that meets them all is
//! chosen (prereleases only when asked for), and its tarball is unpacked
//! into `dbt_packages/<name>`. `DBT_PACKAGE_HUB_URL` points at another hub
//! (a mirror, or the test suite's own server).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The hub: its base URL, and the packages already fetched.
pub struct Hub {
    base: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    cache: BTreeMap<String, HubPackage>,
}

/// One version of a hub package.
#[derive(Debug, Clone)]
pub struct HubVersion {
    /// The package's project name (its folder under `dbt_packages/`).
    pub name: String,
    pub tarball: String,
    pub sha1: Option<String>,
    /// Its own hub dependencies: (org/name, constraints).
    pub packages: Vec<(String, Vec<String>)>,
}

/// Every version of one hub package.
#[derive(Debug, Clone, Default)]
pub struct HubPackage {
    pub versions: BTreeMap<semver::Version, HubVersion>,
}

/// Why the hub could not give what was asked.
#[derive(Debug)]
pub struct HubError {
    pub message: String,
    pub help: String,
}

impl HubError {
    fn new(message: impl Into<String>, help: impl Into<String>) -> Self {
        HubError {
            message: message.into(),
            help: help.into(),
        }
    }
}

/// The hub's base URL: `DBT_PACKAGE_HUB_URL` (or `RDBT_PACKAGE_HUB_URL`),
/// else dbt's public hub.
pub fn hub_url() -> String {
    let base = std::env::var("RDBT_PACKAGE_HUB_URL")
        .or_else(|_| std::env::var("DBT_PACKAGE_HUB_URL"))
        .unwrap_or_else(|_| "https://hub.getdbt.com/".to_string());
    if base.ends_with('/') {
        base
    } else {
        format!("{base}/")
    }
}

/// A version as the hub writes it (`1.3.0`, `0.9`, `v1.0.0`).
pub fn parse_version(text: &str) -> Option<semver::Version> {
    let t = text.trim().trim_start_matches(['v', 'V']);
    semver::Version::parse(t).ok().or_else(|| {
        // dbt accepts `1.2` as `1.2.0`.
        let parts: Vec<&str> = t.split('.').collect();
        match parts.len() {
            1 => semver::Version::parse(&format!("{t}.0.0")).ok(),
            2 => semver::Version::parse(&format!("{t}.0")).ok(),
            _ => None,
        }
    })
}

/// One of dbt's version constraints: `1.3.0` (exactly), `=1.3.0`,
/// `>=1.0.0`, `<2.0.0`, `>0.9`, `<=1.1`.
pub fn satisfies(version: &semver::Version, constraint: &str) -> Result<bool, String> {
    let c = constraint.trim();
    let (op, rest) = ["==", ">=", "<=", "=", ">", "<"]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("=", c));
    let wanted =
        parse_version(rest).ok_or_else(|| format!("`{constraint}` is not a version constraint"))?;
    let order = version.cmp_precedence(&wanted);
    Ok(match op {
        ">=" => order.is_ge(),
        "<=" => order.is_le(),
        ">" => order.is_gt(),
        "<" => order.is_lt(),
        _ => order.is_eq(),
    })
}

/// A packages.yml `version:` value (a string, a number or a list of them)
/// as a list of constraints.
pub fn constraints_of(version: &str) -> Vec<String> {
    if version.trim().is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<serde_json::Value>(version) {
        Ok(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Ok(serde_json::Value::String(s)) => vec![s],
        Ok(other) => vec![other.to_string()],
        Err(_) => vec![version.to_string()],
    }
}

impl Hub {
    pub fn new() -> Result<Hub, HubError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| HubError::new(format!("cannot start the HTTP client: {e}"), ""))?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .map_err(|e| HubError::new(format!("cannot start the HTTP client: {e}"), ""))?;
        Ok(Hub {
            base: hub_url(),
            client,
            runtime,
            cache: BTreeMap::new(),
        })
    }

    fn get(&self, url: &str) -> Result<bytes::Bytes, HubError> {
        let unreachable = |e: String| {
            HubError::new(
                format!("cannot reach the package hub at {url}: {e}"),
                "check the network (or set DBT_PACKAGE_HUB_URL to a reachable mirror); without network access, use a `git:` URL you can reach or a `local:` copy",
            )
        };
        self.runtime.block_on(async {
            let response = self
                .client
                .get(url)
                .send()
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(HubError::new(
                    format!("the package hub answered {status} for {url}"),
                    if status.as_u16() == 404 {
                        "check the package's name (`org/name`, as on hub.getdbt.com)"
                    } else {
                        "try again later, or pin the package by `git:`"
                    },
                ));
            }
            response
                .bytes()
                .await
                .map_err(|e| unreachable(e.to_string()))
        })
    }

    /// Every version of `package` (`org/name`).
    pub fn package(&mut self, package: &str) -> Result<&HubPackage, HubError> {
        if !self.cache.contains_key(package) {
            let url = format!("{}api/v1/{package}.json", self.base);
            let body = self.get(&url)?;
            let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                HubError::new(
                    format!("the package hub's answer for `{package}` is not JSON: {e}"),
                    "check DBT_PACKAGE_HUB_URL",
                )
            })?;
            let mut versions = BTreeMap::new();
            for (text, v) in json["versions"].as_object().into_iter().flatten() {
                let Some(version) = parse_version(text) else {
                    continue;
                };
                let Some(tarball) = v.pointer("/downloads/tarball").and_then(|t| t.as_str()) else {
                    continue;
                };
                let packages = v["packages"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| {
                        let name = p["package"].as_str()?.to_string();
                        let version = match &p["version"] {
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        Some((name, constraints_of(&version)))
                    })
                    .collect();
                versions.insert(
                    version,
                    HubVersion {
                        name: v["name"]
                            .as_str()
                            .or_else(|| json["name"].as_str())
                            .unwrap_or_else(|| package.rsplit('/').next().unwrap_or(package))
                            .to_string(),
                        tarball: tarball.to_string(),
                        sha1: v
                            .pointer("/downloads/sha1")
                            .and_then(|s| s.as_str())
                            .map(str::to_string),
                        packages,
                    },
                );
            }
            self.cache
                .insert(package.to_string(), HubPackage { versions });
        }
        Ok(&self.cache[package])
    }

    /// The highest version of `package` meeting every constraint
    /// (prereleases only with `prerelease`).
    pub fn resolve(
        &mut self,
        package: &str,
        constraints: &[(String, String)],
        prerelease: bool,
    ) -> Result<(semver::Version, HubVersion), HubError> {
        let found = self.package(package)?;
        let mut best = None;
        for (version, v) in found.versions.iter().rev() {
            if !version.pre.is_empty() && !prerelease {
                continue;
            }
            let mut ok = true;
            for (c, _) in constraints {
                if !satisfies(version, c).map_err(|e| {
                    HubError::new(e, "write versions as dbt does: \"1.3.0\", \">=1.0.0\", [\">=1.0.0\", \"<2.0.0\"]")
                })? {
                    ok = false;
                    break;
                }
            }
            if ok {
                best = Some((version.clone(), v.clone()));
                break;
            }
        }
        best.ok_or_else(|| {
            let asked: Vec<String> = constraints
                .iter()
                .map(|(c, by)| format!("{c} ({by})"))
                .collect();
            let available: Vec<String> = found
                .versions
                .keys()
                .rev()
                .take(8)
                .map(ToString::to_string)
                .collect();
            HubError::new(
                format!(
                    "no version of `{package}` satisfies {}",
                    if asked.is_empty() {
                        "any constraint".to_string()
                    } else {
                        asked.join(", ")
                    }
                ),
                format!(
                    "its versions include {}; widen the range in packages.yml (or in the package that asks for it)",
                    available.join(", ")
                ),
            )
        })
    }

    /// Downloads `v`'s tarball and unpacks its project into `dest`,
    /// through a temporary folder (a failed install leaves nothing half
    /// written).
    pub fn install(&self, package: &str, v: &HubVersion, dest: &Path) -> Result<(), HubError> {
        let body = self.get(&v.tarball)?;
        if let Some(expected) = &v.sha1 {
            use sha1::Digest;
            let got: String = sha1::Sha1::digest(&body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !got.eq_ignore_ascii_case(expected) {
                return Err(HubError::new(
                    format!("the tarball of `{package}` has SHA-1 {got}, not the hub's {expected}"),
                    "the download was corrupted or tampered with; run `rdbt deps` again",
                ));
            }
        }
        let parent = dest.parent().unwrap_or(dest);
        let unpack = parent.join(format!(".unpack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&unpack);
        let result = (|| {
            let gz = flate2::read::GzDecoder::new(&body[..]);
            let mut archive = tar::Archive::new(gz);
            // Entries with `..` or absolute paths are refused by unpack.
            archive.unpack(&unpack).map_err(|e| {
                HubError::new(
                    format!("cannot unpack the tarball of `{package}`: {e}"),
                    "run `rdbt deps` again; if it persists, pin the package by `git:`",
                )
            })?;
            let root = project_root(&unpack).ok_or_else(|| {
                HubError::new(
                    format!("the tarball of `{package}` holds no dbt_project.yml"),
                    "the hub's download is not a dbt package; pin it by `git:`",
                )
            })?;
            super::install::replace_dir(&root, dest).map_err(|e| {
                HubError::new(
                    format!("cannot install `{package}` into {}: {e}", dest.display()),
                    "check permissions of the install folder",
                )
            })
        })();
        let _ = std::fs::remove_dir_all(&unpack);
        result
    }
}

/// The folder holding the project file: the tarball's top folder, or the
/// unpacked folder itself.
fn project_root(dir: &Path) -> Option<PathBuf> {
    if dir.join("dbt_project.yml").is_file() {
        return Some(dir.to_path_buf());
    }
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.join("dbt_project.yml").is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbt_version_constraints() {
        let v = |s: &str| parse_version(s).expect("version");
        assert!(satisfies(&v("1.3.0"), ">=1.0.0").unwrap());
        assert!(satisfies(&v("1.3.0"), "<2.0.0").unwrap());
        assert!(!satisfies(&v("2.0.0"), "<2.0.0").unwrap());
        assert!(satisfies(&v("1.3.0"), "1.3.0").unwrap());
        assert!(satisfies(&v("1.3.0"), "=1.3").unwrap());
        assert!(!satisfies(&v("1.3.1"), "1.3.0").unwrap());
        assert!(satisfies(&v("0.9.6"), ">0.9").unwrap());
        assert!(satisfies(&v("0.9.0"), "<=0.9").unwrap());
        assert!(satisfies(&v("1.0.0"), "nonsense").is_err());
        assert_eq!(
            constraints_of("[\">=1.0.0\", \"<2.0.0\"]"),
            vec![">=1.0.0", "<2.0.0"]
        );
        assert_eq!(constraints_of("\"1.1.1\""), vec!["1.1.1"]);
        assert_eq!(constraints_of("1.1"), vec!["1.1"]);
    }
}
