//! Loads a project from disk: the project file, every SQL, CSV, Markdown and
//! property file of the root project and its installed packages. Nothing is
//! rendered here; `compile/` turns the loaded files into nodes.

pub mod config;
mod files;
pub mod hub;
pub mod inputs;
mod install;
pub mod packages;
pub mod project_file;
pub mod properties;

pub use files::{
    DocBlock, MacroDecl, MacroFile, SeedFile, SqlFile, macro_file as macro_file_from_text,
};
pub use project_file::ProjectFile;
pub use properties::Properties;

use crate::diagnostics::{Diagnostic, Diagnostics, codes};
use crate::yaml::{self, Node, SourceFile};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The kinds of nodes, named as dbt's manifest names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Model,
    Seed,
    Snapshot,
    Analysis,
    Test,
    Source,
    Exposure,
    Macro,
    Operation,
    UnitTest,
}

impl ResourceType {
    pub const ALL: &[ResourceType] = &[
        ResourceType::Model,
        ResourceType::Seed,
        ResourceType::Snapshot,
        ResourceType::Analysis,
        ResourceType::Test,
        ResourceType::Source,
        ResourceType::Exposure,
        ResourceType::Macro,
        ResourceType::Operation,
        ResourceType::UnitTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::Seed => "seed",
            ResourceType::Snapshot => "snapshot",
            ResourceType::Analysis => "analysis",
            ResourceType::Test => "test",
            ResourceType::Source => "source",
            ResourceType::Exposure => "exposure",
            ResourceType::Macro => "macro",
            ResourceType::Operation => "operation",
            ResourceType::UnitTest => "unit_test",
        }
    }

    pub fn parse(s: &str) -> Option<ResourceType> {
        ResourceType::ALL.iter().copied().find(|r| r.as_str() == s)
    }

    /// The key of this type's config tree in the project file.
    pub fn config_key(self) -> &'static str {
        match self {
            ResourceType::Model => "models",
            ResourceType::Seed => "seeds",
            ResourceType::Snapshot => "snapshots",
            ResourceType::Analysis => "analyses",
            ResourceType::Test => "tests",
            ResourceType::Source => "sources",
            ResourceType::Exposure => "exposures",
            ResourceType::UnitTest => "unit_tests",
            ResourceType::Macro | ResourceType::Operation => "macros",
        }
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One package's files: the root project or an installed dependency.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub root: PathBuf,
    pub is_root: bool,
    pub file: ProjectFile,
    pub sql_files: Vec<SqlFile>,
    pub seeds: Vec<SeedFile>,
    pub macro_files: Vec<MacroFile>,
    pub doc_blocks: Vec<DocBlock>,
    pub properties: Properties,
}

/// The whole loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// The root package first, then installed packages sorted by name.
    pub packages: Vec<Package>,
    /// `selectors.yml`, if present.
    pub selectors: Option<(Arc<SourceFile>, Node)>,
}

impl Project {
    pub fn root_package(&self) -> &Package {
        &self.packages[0]
    }

    pub fn name(&self) -> &str {
        &self.packages[0].name
    }

    pub fn target_dir(&self) -> PathBuf {
        self.root.join(&self.root_package().file.target_path)
    }
}

/// Loads the project at `dir`. Only a missing or invalid project file is
/// fatal; problems in other files come back beside the project (errors
/// included) so the parse can go on and report everything together.
pub fn load_project(dir: &Path) -> Result<(Project, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::default();
    let dir = &std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let Some((file_path, root)) = project_file::find_project_file(dir) else {
        return Err(Diagnostic::error(
            codes::PROJECT_NOT_FOUND,
            format!("no rdbt_project.yml or dbt_project.yml in {} or {}", dir.display(), dir.join("project").display()),
        )
        .with_help("run rdbt from the project's folder, pass --project-dir, or create a project with `rdbt init NAME`")
        .into());
    };
    let file = ProjectFile::load(&file_path, &mut diags).map_err(Diagnostics::from)?;
    let root_package = files::load_package(&root, file, true, &mut diags);
    let mut packages = vec![root_package];
    let install_dir = root.join(&packages[0].file.packages_install_path);
    for (pkg_root, pkg_file) in packages::installed_packages(&install_dir, &mut diags) {
        let mut pkg_diags = Diagnostics::default();
        match ProjectFile::load(&pkg_file, &mut pkg_diags) {
            Ok(pf) => {
                // Warnings inside third-party packages are not the user's to fix.
                let pkg = files::load_package(&pkg_root, pf, false, &mut pkg_diags);
                diags.extend(pkg_diags.into_iter().filter(Diagnostic::is_error));
                packages.push(pkg);
            }
            Err(d) => diags.push(d),
        }
    }
    check_duplicate_packages(&packages, &mut diags);
    let selectors = load_selectors(&root, &mut diags);
    Ok((
        Project {
            root,
            packages,
            selectors,
        },
        diags,
    ))
}

fn check_duplicate_packages(packages: &[Package], diags: &mut Diagnostics) {
    for (i, p) in packages.iter().enumerate() {
        if packages[..i].iter().any(|q| q.name == p.name) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    format!("two packages are both named `{}`", p.name),
                )
                .with_help(format!("remove one of them from {}", p.root.display())),
            );
        }
    }
}

fn load_selectors(root: &Path, diags: &mut Diagnostics) -> Option<(Arc<SourceFile>, Node)> {
    let path = root.join("selectors.yml");
    if !path.is_file() {
        return None;
    }
    let file = match SourceFile::read(&path) {
        Ok(f) => Arc::new(f),
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    match yaml::parse(&file) {
        Ok(Some(node)) => Some((file, node)),
        Ok(None) => None,
        Err(d) => {
            diags.push(d);
            None
        }
    }
}
