//! Installing a package's files: a copy that is never left half done.

use std::path::Path;

/// Copies `src` to `dest` through a temporary folder so a failed copy never
/// leaves a half-installed package.
pub(super) fn replace_dir(src: &Path, dest: &Path) -> std::io::Result<()> {
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
