//! The stylesheet: `style/main.css` (hand-written base rules) followed by
//! the Tailwind utilities that the UI's source actually uses, compiled by
//! encre-css from the class strings in `app/src`. No Node involved.
//!
//! (tailwind-rs was tried first and dropped `hover:`, responsive and
//! `dark:` rules; encre-css implements the variants.)

use std::path::Path;

use encre_css::{config::DarkMode, Config};

use crate::{root, site_dir, Result};

/// The dark theme is a class on `<html>` set by the server from the theme
/// cookie (and, for "system", by a script before first paint).
pub fn config() -> Config {
    let mut config = Config::default();
    config.theme.dark_mode = DarkMode::new_class(".dark");
    config
}

pub fn build() -> Result {
    let mut sources = Vec::new();
    collect_rs(&root().join("app/src"), &mut sources)?;
    let utilities = encre_css::generate(sources.iter().map(String::as_str), &config());
    let base = std::fs::read_to_string(root().join("style/main.css"))
        .map_err(|e| format!("style/main.css: {e}"))?;
    let out = site_dir().join("pkg/yagura.css");
    std::fs::create_dir_all(out.parent().expect("pkg dir")).map_err(|e| e.to_string())?;
    std::fs::write(&out, format!("{utilities}\n\n/* style/main.css */\n{base}"))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "xtask: wrote {} ({} bytes)",
        out.display(),
        std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0)
    );
    Ok(())
}

fn collect_rs(dir: &Path, out: &mut Vec<String>) -> Result {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_the_ui_relies_on_are_generated() {
        let css = encre_css::generate(
            [r#"class="hover:bg-slate-100 md:flex dark:bg-slate-950 dark:hover:bg-slate-800""#],
            &config(),
        );
        assert!(css.contains(".hover\\:bg-slate-100:hover"), "{css}");
        assert!(
            css.contains("@media (width >= 48rem)") || css.contains("@media (min-width: 768px)"),
            "{css}"
        );
        assert!(css.contains(".dark .dark\\:bg-slate-950"), "{css}");
        assert!(
            css.contains(".dark .dark\\:hover\\:bg-slate-800:hover"),
            "{css}"
        );
    }
}
