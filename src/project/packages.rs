//! Packages: reading `packages.yml` / `dependencies.yml`, installing them
//! into `dbt_packages/` (`rdbt deps`), and finding what is installed.

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
    let file = SourceFile::read(&path)?;
    let Some(node) = yaml::parse(&file)? else {
        return Ok(Vec::new());
    };
    let mut r = MapReader::new(&file, &node, "the packages file")?;
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
    Ok(specs)
}

/// Installs every package into `install_dir`; returns the installed names.
pub fn install(root: &Path, install_dir: &Path) -> Result<Vec<String>, Diagnostics> {
    let specs = read_package_specs(root).map_err(Diagnostics::from)?;
    let mut diags = Diagnostics::default();
    let mut installed = Vec::new();
    if let Err(e) = std::fs::create_dir_all(install_dir) {
        return Err(Diagnostic::error(
            codes::PACKAGE,
            format!("cannot create {}: {e}", install_dir.display()),
        )
        .into());
    }
    for (spec, file, mark) in specs {
        match install_one(root, install_dir, &spec) {
            Ok(name) => installed.push(name),
            Err(message) => diags.push(
                file.error_at(mark, codes::PACKAGE, message.0)
                    .with_help(message.1),
            ),
        }
    }
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(installed)
}

struct InstallError(String, String);

fn install_one(
    root: &Path,
    install_dir: &Path,
    spec: &PackageSpec,
) -> Result<String, InstallError> {
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
            replace_dir(&pkg_root, &dest).map_err(|e| {
                InstallError(
                    format!("cannot copy `{path}` into {}: {e}", dest.display()),
                    "check permissions of the install folder".into(),
                )
            })?;
            Ok(name)
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
            let result = replace_dir(&src, &install_dir.join(&name));
            let _ = std::fs::remove_dir_all(&tmp);
            result.map_err(|e| {
                InstallError(
                    format!("cannot install `{url}`: {e}"),
                    "check permissions of the install folder".into(),
                )
            })?;
            Ok(name)
        }
        PackageSpec::Hub { package, .. } => Err(InstallError(
            format!("package `{package}` comes from the dbt package hub, which rdbt cannot reach"),
            "use its git URL (`git: https://github.com/...`) or a `local:` copy".into(),
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

/// Copies `src` to `dest` through a temporary folder so a failed copy never
/// leaves a half-installed package.
fn replace_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    let tmp = dest.with_extension("installing");
    let _ = std::fs::remove_dir_all(&tmp);
    copy_dir(src, &tmp)?;
    let _ = std::fs::remove_dir_all(dest);
    std::fs::rename(&tmp, dest)
}

fn copy_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') || name == "target" || name == "dbt_packages" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &dest.join(&name))?;
        } else {
            std::fs::copy(&path, dest.join(&name))?;
        }
    }
    Ok(())
}
