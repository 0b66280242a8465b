//! Packages: reading `packages.yml` / `dependencies.yml`, resolving them
//! with their own dependencies as dbt's resolver does, installing them into
//! `dbt_packages/` (`rdbt deps`), `package-lock.yml`, and finding what is
//! installed.

use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::yaml::{self, MapReader, SourceFile};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One entry of packages.yml.
#[derive(Debug, Clone, PartialEq)]
pub enum PackageSpec {
    Local {
        path: String,
    },
    Git {
        url: String,
        revision: Option<String>,
        subdirectory: Option<String>,
    },
    Hub {
        package: String,
        version: String,
    },
}

/// Installed packages: every folder of `install_dir` holding a project file.
pub fn installed_packages(install_dir: &Path, _diags: &mut Diagnostics) -> Vec<(PathBuf, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(install_dir) else {
        return Vec::new();
    };
    let mut found: Vec<(PathBuf, PathBuf)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|dir| {
            super::project_file::find_project_file(&dir).map(|(file, root)| (root, file))
        })
        .collect();
    found.sort();
    found
}

/// Reads `packages.yml` or `dependencies.yml` at the project root.
pub fn read_package_specs(
    root: &Path,
) -> Result<Vec<(PackageSpec, SourceFile, yaml::Mark)>, Diagnostic> {
    let Some(path) = ["packages.yml", "dependencies.yml"]
        .iter()
        .map(|n| root.join(n))
        .find(|p| p.is_file())
    else {
        return Ok(Vec::new());
    };
    Ok(read_specs_file(&path)?.0)
}

type Specs = Vec<(PackageSpec, SourceFile, yaml::Mark)>;

/// The `packages:` of a packages file or of `package-lock.yml`, and the
/// lock's `sha1_hash`.
fn read_specs_file(path: &Path) -> Result<(Specs, Option<String>), Diagnostic> {
    let file = SourceFile::read(path)?;
    let Some(node) = yaml::parse(&file)? else {
        return Ok((Vec::new(), None));
    };
    let mut r = MapReader::new(&file, &node, "the packages file")?;
    let hash = r.string("sha1_hash")?;
    // dependencies.yml may also list projects (dbt Mesh); they are not
    // packages to install.
    r.allow(&["projects"]);
    let mut specs = Vec::new();
    for item in r.seq("packages")? {
        let mut e = MapReader::new(&file, item, "a package entry")?;
        let spec = if let Some(path) = e.string("local")? {
            PackageSpec::Local { path }
        } else if let Some(url) = e.string("git")? {
            PackageSpec::Git {
                url,
                revision: e.string("revision")?,
                subdirectory: e.string("subdirectory")?,
            }
        } else if let Some(package) = e.string("package")? {
            PackageSpec::Hub {
                package,
                version: e
                    .get("version")
                    .map(|v| v.to_json().to_string())
                    .unwrap_or_default(),
            }
        } else {
            return Err(file
                .error_at(
                    item.mark,
                    codes::PACKAGE,
                    "a package entry needs `local:`, `git:` or `package:`",
                )
                .with_help("e.g. `- local: ../shared_macros`"));
        };
        e.allow(&["version", "install-prerelease", "warn-unpinned", "name"]);
        specs.push((spec, file.clone(), item.mark));
    }
    Ok((specs, hash))
}

impl PackageSpec {
    /// The spec as dbt's `to_dict()` writes it (sorted keys), the unit of
    /// `package-lock.yml`'s `sha1_hash`.
    fn canonical_json(&self) -> String {
        let mut m = serde_json::Map::new();
        match self {
            PackageSpec::Local { path } => {
                m.insert("local".into(), path.clone().into());
            }
            PackageSpec::Git {
                url,
                revision,
                subdirectory,
            } => {
                m.insert("git".into(), url.clone().into());
                if let Some(r) = revision {
                    m.insert("revision".into(), r.clone().into());
                }
                if let Some(s) = subdirectory {
                    m.insert("subdirectory".into(), s.clone().into());
                }
            }
            PackageSpec::Hub { package, version } => {
                m.insert("package".into(), package.clone().into());
                if !version.is_empty() {
                    let v: serde_json::Value = serde_json::from_str(version)
                        .unwrap_or_else(|_| serde_json::Value::String(version.clone()));
                    m.insert("version".into(), v);
                }
            }
        }
        // serde_json's maps are ordered as inserted unless sorted: sort.
        let sorted: std::collections::BTreeMap<_, _> = m.into_iter().collect();
        serde_json::to_string(&sorted).unwrap_or_default()
    }

    /// What the spec is called in messages.
    fn label(&self) -> String {
        match self {
            PackageSpec::Local { path } => format!("local: {path}"),
            PackageSpec::Git { url, .. } => format!("git: {url}"),
            PackageSpec::Hub { package, .. } => format!("package: {package}"),
        }
    }
}

/// dbt's lock hash: SHA-1 of the sorted, newline-joined specs.
fn specs_hash(specs: &[PackageSpec]) -> String {
    use sha1::Digest;
    let mut lines: Vec<String> = specs.iter().map(PackageSpec::canonical_json).collect();
    lines.sort();
    let digest = sha1::Sha1::digest(lines.join("\n").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One package to install: its spec, the folder a `local:` path is read
/// from, where it was written, and which package asked for it.
struct Wanted {
    spec: PackageSpec,
    base: PathBuf,
    file: SourceFile,
    mark: yaml::Mark,
    required_by: Option<String>,
}

/// A hub package wanted somewhere in the tree: every constraint on it, with
/// who asked, and where it was first written (for errors).
struct HubWanted {
    constraints: Vec<(String, String)>,
    file: SourceFile,
    mark: yaml::Mark,
}

/// `rdbt deps`: installs the packages of packages.yml and, transitively,
/// theirs, into `install_dir`, and returns the installed names in install
/// order. As dbt: a package is installed once (the first spec naming it
/// wins, direct dependencies before theirs); `package-lock.yml` lists the
/// resolved set and is followed while it matches packages.yml (its
/// `sha1_hash`), and written anew when it does not.
pub fn install(root: &Path, install_dir: &Path) -> Result<Vec<String>, Diagnostics> {
    let specs = read_package_specs(root).map_err(Diagnostics::from)?;
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    if let Err(e) = std::fs::create_dir_all(install_dir) {
        return Err(Diagnostic::error(
            codes::PACKAGE,
            format!("cannot create {}: {e}", install_dir.display()),
        )
        .into());
    }
    let hash = specs_hash(&specs.iter().map(|(s, _, _)| s.clone()).collect::<Vec<_>>());
    let lock_path = root.join("package-lock.yml");
    let locked = if lock_path.is_file() {
        let (entries, lock_hash) = read_specs_file(&lock_path).map_err(Diagnostics::from)?;
        // A lock written for these very specs: its hash says so, or (a lock
        // from another tool, hashed its own way) it holds every spec.
        let covers = specs
            .iter()
            .all(|(s, _, _)| entries.iter().any(|(e, _, _)| e == s));
        (lock_hash.as_deref() == Some(hash.as_str()) || covers).then_some(entries)
    } else {
        None
    };
    let from_lock = locked.is_some();
    let mut queue: std::collections::VecDeque<Wanted> = locked
        .unwrap_or(specs)
        .into_iter()
        .map(|(spec, file, mark)| Wanted {
            spec,
            base: root.to_path_buf(),
            file,
            mark,
            required_by: None,
        })
        .collect();
    let mut diags = Diagnostics::default();
    let mut installed: Vec<(String, PackageSpec)> = Vec::new();
    // Hub packages are resolved together once the tree's other packages
    // (which may ask for them too) are in.
    let mut hub_wanted: std::collections::BTreeMap<String, HubWanted> = Default::default();
    while let Some(w) = queue.pop_front() {
        if let PackageSpec::Hub { package, version } = &w.spec {
            let by = w
                .required_by
                .clone()
                .map_or("packages.yml".to_string(), |p| format!("package `{p}`"));
            let entry = hub_wanted
                .entry(package.clone())
                .or_insert_with(|| HubWanted {
                    constraints: Vec::new(),
                    file: w.file.clone(),
                    mark: w.mark,
                });
            for c in super::hub::constraints_of(version) {
                entry.constraints.push((c, by.clone()));
            }
            continue;
        }
        match install_one(&w.base, install_dir, &w.spec) {
            Ok((name, source)) => {
                if installed.iter().any(|(n, _)| *n == name) {
                    continue;
                }
                installed.push((name.clone(), lock_spec(root, &w.base, &w.spec)));
                if from_lock {
                    continue;
                }
                match read_package_specs(&install_dir.join(&name)) {
                    Ok(nested) => {
                        queue.extend(nested.into_iter().map(|(spec, file, mark)| Wanted {
                            spec,
                            base: source.clone(),
                            file,
                            mark,
                            required_by: Some(name.clone()),
                        }))
                    }
                    Err(d) => diags.push(d),
                }
            }
            Err(message) => {
                let help = match &w.required_by {
                    Some(by) => format!(
                        "{} (`{}` is a dependency of the package `{by}`)",
                        message.1,
                        w.spec.label()
                    ),
                    None => message.1,
                };
                diags.push(
                    w.file
                        .error_at(w.mark, codes::PACKAGE, message.0)
                        .with_help(help),
                );
            }
        }
    }
    if !diags.has_errors() && !hub_wanted.is_empty() {
        install_from_hub(
            install_dir,
            hub_wanted,
            from_lock,
            &mut installed,
            &mut diags,
        );
    }
    if diags.has_errors() {
        return Err(diags);
    }
    if !from_lock {
        write_lock(&lock_path, &installed, &hash)?;
    }
    Ok(installed.into_iter().map(|(n, _)| n).collect())
}

/// Resolves the hub packages of the tree as dbt does (the constraints of
/// every package that asks, the hub's own dependencies of each chosen
/// version, until nothing changes) and installs them. A package whose name
/// a `local:` or `git:` package already installed is left to that one.
fn install_from_hub(
    install_dir: &Path,
    mut wanted: std::collections::BTreeMap<String, HubWanted>,
    from_lock: bool,
    installed: &mut Vec<(String, PackageSpec)>,
    diags: &mut Diagnostics,
) {
    let fail = |diags: &mut Diagnostics, w: &HubWanted, e: super::hub::HubError| {
        diags.push(
            w.file
                .error_at(w.mark, codes::PACKAGE, e.message)
                .with_help(e.help),
        );
    };
    // dbt dedupes by name: a package already installed from `local:` or
    // `git:` under the hub package's name is the one kept, and the hub is
    // not asked about it.
    wanted.retain(|package, _| {
        let short = package.rsplit('/').next().unwrap_or(package);
        !installed.iter().any(|(n, _)| n == short)
    });
    if wanted.is_empty() {
        return;
    }
    let mut hub = match super::hub::Hub::new() {
        Ok(hub) => hub,
        Err(e) => {
            if let Some(w) = wanted.values().next() {
                fail(diags, w, e);
            }
            return;
        }
    };
    let mut chosen: std::collections::BTreeMap<String, (semver::Version, super::hub::HubVersion)> =
        Default::default();
    // Each round may add constraints (a chosen version's own dependencies);
    // a tree settles in a few rounds.
    for _ in 0..32 {
        chosen.clear();
        for (package, w) in &wanted {
            match hub.resolve(package, &w.constraints, false) {
                Ok(found) => {
                    chosen.insert(package.clone(), found);
                }
                Err(e) => {
                    fail(diags, w, e);
                    return;
                }
            }
        }
        if from_lock {
            // The lock already lists the whole tree.
            break;
        }
        let mut changed = false;
        for (package, (version, v)) in &chosen {
            let Some(first) = wanted.get(package) else {
                continue;
            };
            let (file, mark) = (first.file.clone(), first.mark);
            for (dep, constraints) in &v.packages {
                let by = format!("package `{package}` {version}");
                let entry = wanted.entry(dep.clone()).or_insert_with(|| {
                    changed = true;
                    HubWanted {
                        constraints: Vec::new(),
                        file: file.clone(),
                        mark,
                    }
                });
                for c in constraints {
                    if !entry
                        .constraints
                        .iter()
                        .any(|(have, b)| have == c && *b == by)
                    {
                        entry.constraints.push((c.clone(), by.clone()));
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    for (package, (version, v)) in chosen {
        // dbt dedupes by name: a package of that name from `local:` or
        // `git:` is the one kept.
        if installed.iter().any(|(n, _)| *n == v.name) {
            continue;
        }
        if let Err(e) = hub.install(&package, &v, &install_dir.join(&v.name)) {
            if let Some(w) = wanted.get(&package) {
                fail(diags, w, e);
            }
            continue;
        }
        installed.push((
            v.name.clone(),
            PackageSpec::Hub {
                package,
                version: format!("\"{version}\""),
            },
        ));
    }
}

/// A spec as the lock records it: local paths relative to the project root.
fn lock_spec(root: &Path, base: &Path, spec: &PackageSpec) -> PackageSpec {
    match spec {
        PackageSpec::Local { path } if base != root => {
            let abs = base.join(path);
            let abs = abs.canonicalize().unwrap_or(abs);
            let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
            PackageSpec::Local {
                path: relative_path(&root, &abs).to_string_lossy().into_owned(),
            }
        }
        other => other.clone(),
    }
}

/// `to` relative to `from` (both absolute), with `..` where needed.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Writes `package-lock.yml` as dbt does: every resolved package with its
/// name, and the hash of packages.yml's specs. Written whole through a
/// temporary file, so a reader never sees half of one.
fn write_lock(
    path: &Path,
    installed: &[(String, PackageSpec)],
    hash: &str,
) -> Result<(), Diagnostics> {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut text = String::from("packages:\n");
    for (name, spec) in installed {
        match spec {
            PackageSpec::Local { path } => text.push_str(&format!("  - local: {}\n", quote(path))),
            PackageSpec::Git {
                url,
                revision,
                subdirectory,
            } => {
                text.push_str(&format!("  - git: {}\n", quote(url)));
                if let Some(r) = revision {
                    text.push_str(&format!("    revision: {}\n", quote(r)));
                }
                if let Some(s) = subdirectory {
                    text.push_str(&format!("    subdirectory: {}\n", quote(s)));
                }
            }
            PackageSpec::Hub { package, version } => {
                text.push_str(&format!("  - package: {}\n", quote(package)));
                if !version.is_empty() {
                    text.push_str(&format!("    version: {version}\n"));
                }
            }
        }
        text.push_str(&format!("    name: {}\n", quote(name)));
    }
    text.push_str(&format!("sha1_hash: {hash}\n"));
    let tmp = path.with_extension("yml.tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Diagnostics::from(
                Diagnostic::error(
                    codes::PACKAGE,
                    format!("cannot write {}: {e}", path.display()),
                )
                .with_help("check that the project folder is writable"),
            )
        })
}

struct InstallError(String, String);

/// Installs one package; returns its name and the folder its own `local:`
/// dependencies are read from.
fn install_one(
    root: &Path,
    install_dir: &Path,
    spec: &PackageSpec,
) -> Result<(String, PathBuf), InstallError> {
    match spec {
        PackageSpec::Local { path } => {
            let source = root.join(path);
            let (_, pkg_root) =
                super::project_file::find_project_file(&source).ok_or_else(|| {
                    InstallError(
                        format!(
                            "local package `{path}` has no dbt_project.yml or rdbt_project.yml"
                        ),
                        format!("check the path; it is read relative to {}", root.display()),
                    )
                })?;
            let name = package_name(&pkg_root)?;
            let dest = install_dir.join(&name);
            super::install::replace_dir(&pkg_root, &dest).map_err(|e| {
                InstallError(
                    format!("cannot copy `{path}` into {}: {e}", dest.display()),
                    "check permissions of the install folder".into(),
                )
            })?;
            Ok((name, pkg_root))
        }
        PackageSpec::Git {
            url,
            revision,
            subdirectory,
        } => {
            let tmp = install_dir.join(format!(".clone-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            let mut cmd = Command::new("git");
            cmd.args(["clone", "--quiet", "--depth", "1"]);
            if let Some(rev) = revision {
                cmd.args(["--branch", rev]);
            }
            cmd.arg(url).arg(&tmp);
            let output = cmd.output().map_err(|e| {
                InstallError(
                    format!("cannot run git to fetch `{url}`: {e}"),
                    "install git, or vendor the package and use `local:`".into(),
                )
            })?;
            if !output.status.success() {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(InstallError(
                    format!("could not fetch git package `{url}`: {}", String::from_utf8_lossy(&output.stderr).trim()),
                    "check the URL and the network; without network access, copy the package next to the project and use `local:`".into(),
                ));
            }
            let src = subdirectory.as_ref().map_or(tmp.clone(), |s| tmp.join(s));
            let name = package_name(&src)?;
            let result = super::install::replace_dir(&src, &install_dir.join(&name));
            let _ = std::fs::remove_dir_all(&tmp);
            result.map_err(|e| {
                InstallError(
                    format!("cannot install `{url}`: {e}"),
                    "check permissions of the install folder".into(),
                )
            })?;
            let installed = install_dir.join(&name);
            Ok((name, installed))
        }
        PackageSpec::Hub { package, .. } => Err(InstallError(
            format!("package `{package}` is resolved with the other hub packages"),
            "this is a bug in rdbt: hub packages are installed after the others".into(),
        )),
    }
}

fn package_name(root: &Path) -> Result<String, InstallError> {
    let (file, _) = super::project_file::find_project_file(root).ok_or_else(|| {
        InstallError(
            format!("{} holds no project file", root.display()),
            "a package needs a dbt_project.yml".into(),
        )
    })?;
    let mut diags = Diagnostics::default();
    super::ProjectFile::load(&file, &mut diags)
        .map(|f| f.name)
        .map_err(|d| {
            InstallError(
                format!("the package's project file is invalid: {}", d.message),
                "fix or update the package".into(),
            )
        })
}
