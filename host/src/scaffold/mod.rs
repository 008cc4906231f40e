//! `host new`: a ready plugin project in the author's language, so that the
//! first build is one documented command and its `.wasm` is one the host
//! accepts (a Rust crate that is not a `cdylib`, for one, builds without
//! error and produces no `.wasm` at all).
//!
//! The templates live beside this file and are compiled in. Their only
//! placeholders are `{{name}}` and friends, replaced verbatim: a template
//! engine would add a dependency for less than a dozen substitutions.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    Python,
    JavaScript,
    TypeScript,
}

impl Language {
    /// As the command line spells them.
    pub const NAMES: [&'static str; 4] = ["rust", "python", "js", "ts"];

    pub fn from_name(name: &str) -> Option<Language> {
        match name {
            "rust" => Some(Language::Rust),
            "python" => Some(Language::Python),
            "js" => Some(Language::JavaScript),
            "ts" => Some(Language::TypeScript),
            _ => None,
        }
    }

    /// The files of a project, as (path in the project, template).
    fn templates(self) -> &'static [(&'static str, &'static str)] {
        macro_rules! files {
            ($($path:literal => $template:literal),* $(,)?) => {
                &[$(($path, include_str!(concat!("templates/", $template)))),*]
            };
        }
        match self {
            Language::Rust => files![
                "Cargo.toml" => "rust/Cargo.toml",
                "src/lib.rs" => "rust/src/lib.rs",
                "README.md" => "rust/README.md",
                ".gitignore" => "rust/gitignore",
            ],
            Language::Python => files![
                "activities.py" => "python/activities.py",
                "test_activities.py" => "python/test_activities.py",
                "requirements.txt" => "python/requirements.txt",
                "Makefile" => "python/Makefile",
                "README.md" => "python/README.md",
                ".gitignore" => "python/gitignore",
            ],
            Language::JavaScript => files![
                "activities.js" => "js/activities.js",
                "activities.test.mjs" => "js/activities.test.mjs",
                "Makefile" => "js/Makefile",
                "README.md" => "js/README.md",
                ".gitignore" => "js/gitignore",
            ],
            Language::TypeScript => files![
                "activities.ts" => "ts/activities.ts",
                "activities.test.mjs" => "js/activities.test.mjs",
                "tsconfig.json" => "ts/tsconfig.json",
                "Makefile" => "js/Makefile",
                "README.md" => "ts/README.md",
                ".gitignore" => "js/gitignore",
            ],
        }
    }

    fn display_name(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::JavaScript => "JavaScript",
            Language::TypeScript => "TypeScript",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Language::Rust => "src/lib.rs",
            Language::Python => "activities.py",
            Language::JavaScript => "activities.js",
            Language::TypeScript => "activities.ts",
        }
    }
}

/// What to write, and where.
#[derive(Debug, Clone)]
pub struct Project {
    pub language: Language,
    /// The plugin's name: `NAME.wasm` and `NAME.toml`, and the crate's name.
    pub name: String,
    /// Created if missing; an existing directory must be empty.
    pub dir: PathBuf,
    /// The activity-host checkout whose guest SDK and build tools the project
    /// uses (an absolute path).
    pub sdk: PathBuf,
    /// The `host` binary the project's README and tests call.
    pub host: PathBuf,
}

/// Why no project was written. Each is one line naming what and why.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "invalid plugin name {0:?}: use letters, digits, `_` and `-`, starting with a letter \
         (it names NAME.wasm, NAME.toml and the package)"
    )]
    InvalidName(String),
    #[error("{0} is not empty: choose a new directory, or empty this one")]
    NotEmpty(PathBuf),
    #[error("{0} exists and is not a directory")]
    NotADirectory(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Checks a plugin name: it becomes a file name, a Rust package name and a
/// manifest name, so it keeps to what all three accept.
pub fn validate_name(name: &str) -> Result<(), NewError> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && name.len() <= 64;
    if valid { Ok(()) } else { Err(NewError::InvalidName(name.to_string())) }
}

impl Project {
    /// The files, rendered, as (path in the project, contents).
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        let sdk = self.sdk.display().to_string();
        let host = self.host.display().to_string();
        let crate_name = self.name.replace('-', "_");
        let render = |template: &str| {
            template
                .replace("{{name}}", &self.name)
                .replace("{{crate}}", &crate_name)
                .replace("{{sdk}}", &sdk)
                .replace("{{host}}", &host)
                .replace("{{source}}", self.language.source())
                .replace("{{language}}", self.language.display_name())
        };
        let mut files: Vec<(PathBuf, String)> =
            self.language.templates().iter().map(|(path, template)| (PathBuf::from(path), render(template))).collect();
        files.push((
            PathBuf::from(format!("{}.toml", self.name)),
            render(include_str!("templates/common/manifest.toml")),
        ));
        files
    }

    /// Writes the project; nothing is overwritten.
    pub fn write(&self) -> Result<Vec<PathBuf>, NewError> {
        validate_name(&self.name)?;
        match std::fs::read_dir(&self.dir) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    return Err(NewError::NotEmpty(self.dir.clone()));
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) if e.kind() == ErrorKind::NotADirectory => return Err(NewError::NotADirectory(self.dir.clone())),
            Err(source) => return Err(NewError::Write { path: self.dir.clone(), source }),
        }
        let mut written = Vec::new();
        for (relative, contents) in self.files() {
            let path = self.dir.join(&relative);
            let write = |path: &Path| -> std::io::Result<()> {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(path, contents.as_bytes())
            };
            write(&path).map_err(|source| NewError::Write { path: path.clone(), source })?;
            written.push(relative);
        }
        Ok(written)
    }

    /// The commands that build and check the project, for the author to run next.
    pub fn next_steps(&self) -> Vec<String> {
        let cd = format!("cd {}", self.dir.display());
        let host = self.host.display();
        match self.language {
            Language::Rust => vec![
                cd,
                "cargo build --release --target wasm32-wasip2".into(),
                format!("cp target/wasm32-wasip2/release/{}.wasm {}.wasm", self.name.replace('-', "_"), self.name),
                "cargo test".into(),
                format!("{host} check {}.wasm", self.name),
            ],
            Language::Python | Language::JavaScript | Language::TypeScript => {
                vec![cd, "make".into(), "make test".into(), "make check".into()]
            }
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The activity-host checkout a new project builds with: `explicit` if given,
/// else the checkout this binary was built from, else the one it sits in
/// (`CHECKOUT/target/release/host`). `None` if none has a guest SDK.
pub fn find_sdk(explicit: Option<&Path>, exe: Option<&Path>) -> Option<PathBuf> {
    let is_checkout = |dir: &Path| dir.join("guest-sdk/rust/Cargo.toml").is_file();
    if let Some(dir) = explicit {
        return is_checkout(dir).then(|| dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf);
    let beside_exe = exe.and_then(|exe| exe.ancestors().nth(3)).map(Path::to_path_buf);
    [built_from, beside_exe].into_iter().flatten().find(|dir| is_checkout(dir)).and_then(|dir| dir.canonicalize().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_a_file_a_crate_and_a_manifest_accept() {
        for good in ["greetings", "orders-v2", "a_b1"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "2fast", "has space", "dot.ted", "../up", "-x", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for language in Language::NAMES.iter().filter_map(|n| Language::from_name(n)) {
            let project = Project {
                language,
                name: "orders-v2".into(),
                dir: "/tmp/x".into(),
                sdk: "/opt/activity-host".into(),
                host: "/opt/activity-host/target/release/host".into(),
            };
            for (path, contents) in project.files() {
                assert!(!contents.contains("{{"), "{language}: {} keeps a placeholder", path.display());
            }
        }
    }
}
