//! Which guest toolchain built a component, read from its `producers`
//! sections, so that a plugin refused for offering nothing is told what to
//! fix in its author's language rather than in WIT terms.
//!
//! A component built by componentize-py or componentize-js also carries the
//! Rust and C modules of its runtime, so the markers are checked from the most
//! specific down: ComponentizeJS's own `JavaScript` language field, then
//! componentize-py's `component-init-transform` step (the snapshot of the
//! interpreter), then `wit-bindgen-rust` in a module written in Rust.

use wasmparser::{KnownCustom, Parser, Payload};

/// The language a plugin was written in, as far as its component says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toolchain {
    Rust,
    Python,
    JavaScript,
}

impl Toolchain {
    /// The language of the component `bytes`, if its producers say.
    pub fn detect(bytes: &[u8]) -> Option<Toolchain> {
        let (mut rust, mut python, mut javascript) = (false, false, false);
        for payload in Parser::new(0).parse_all(bytes) {
            // A section that does not parse says nothing; the component itself
            // was already validated by the compiler.
            let Ok(Payload::CustomSection(section)) = payload else { continue };
            let KnownCustom::Producers(fields) = section.as_known() else { continue };
            let (mut rust_language, mut rust_bindings) = (false, false);
            for field in fields.into_iter().flatten() {
                for value in field.values.into_iter().flatten() {
                    match (field.name, value.name) {
                        ("language", "JavaScript") | ("processed-by", "ComponentizeJS") => javascript = true,
                        ("processed-by", "component-init-transform") => python = true,
                        ("language", "Rust") => rust_language = true,
                        ("processed-by", "wit-bindgen-rust") => rust_bindings = true,
                        _ => {}
                    }
                }
            }
            rust |= rust_language && rust_bindings;
        }
        if javascript {
            Some(Toolchain::JavaScript)
        } else if python {
            Some(Toolchain::Python)
        } else if rust {
            Some(Toolchain::Rust)
        } else {
            None
        }
    }

    /// What an author forgot when a component of this language offers no
    /// activity: it exports nothing of the plugin world (`exported` false),
    /// or its `definitions()` lists nothing.
    pub fn nothing_offered_hint(self, exported: bool) -> &'static str {
        match (self, exported) {
            (Toolchain::Rust, false) => {
                "`activity::export!(...)` is missing: name every #[activity::defn] function in it, once per \
                 crate, and build a cdylib (`crate-type = [\"cdylib\"]`)"
            }
            (Toolchain::Rust, true) => "name at least one #[activity::defn] function in `activity::export!(...)`",
            (Toolchain::Python, _) => "the module has no `@activity.defn` functions",
            (Toolchain::JavaScript, _) => "the module has no exported functions: export each activity from it",
        }
    }
}
