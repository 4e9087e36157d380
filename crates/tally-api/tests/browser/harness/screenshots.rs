//! Where screenshots go: `TALLY_SCREENSHOTS_DIR` (relative to the workspace
//! root, whatever directory the tests run in) or `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::{env, fs};

pub const FOLDER_VARIABLE: &str = "TALLY_SCREENSHOTS_DIR";

static ANNOUNCED: Once = Once::new();

/// Writes `png` as `name` in the folder, said once per run, and answers
/// its path.
pub fn write(name: &str, png: &[u8]) -> PathBuf {
    let folder = folder();
    fs::create_dir_all(&folder).unwrap();
    ANNOUNCED.call_once(|| super::say(&format!("screenshots in {}", folder.display())));
    let path = folder.join(name);
    fs::write(&path, png).unwrap();
    path
}

fn folder() -> PathBuf {
    match env::var_os(FOLDER_VARIABLE) {
        Some(folder) if !folder.is_empty() => workspace_root().join(folder),
        // Cargo's temporary folder of integration tests is `target/tmp`.
        _ => Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots"),
    }
}

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
}
