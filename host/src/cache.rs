//! An on-disk cache of compiled plugins, so that a restart (or a second host
//! on the machine) does not run Cranelift again.
//!
//! An entry is keyed by the plugin's content hash and the engine's
//! compatibility hash (compiler target and flags, tunables such as epoch
//! interruption, fuel and stack size, enabled features, and the wasmtime
//! version), so a stale entry is never even looked up. Each entry stores the
//! BLAKE3 hash of its artefact beside it and is checked before wasmtime
//! maps it: a truncated or corrupted file is detected, removed and rebuilt,
//! never executed. wasmtime checks its own header and configuration again
//! when it deserializes.
//!
//! Entries are written to a temporary file and renamed into place, so
//! concurrent hosts never see a half-written entry. The directory must be as
//! trusted as the host binary: a compiled artefact is native code.

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled plugins are kept.
pub struct Cache {
    dir: PathBuf,
}

/// Feeds `Hash` implementations into BLAKE3: stable across runs, unlike
/// `DefaultHasher`.
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the full digest is used")
    }
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Compiled now (and, with a cache, stored for next time).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

impl Cache {
    /// The default location: `$XDG_CACHE_HOME/activity-host` (or the
    /// platform's equivalent), else a directory under the system temp dir.
    pub fn default_dir() -> PathBuf {
        dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("activity-host")
    }

    /// Uses `dir`, creating it (readable by this user only) if needed.
    pub fn open(dir: &Path) -> std::io::Result<Cache> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        Ok(Cache { dir: dir.to_path_buf() })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(engine: &Engine, wasm: &[u8]) -> String {
        let mut hasher = Blake3Hasher(blake3::Hasher::new());
        hasher.0.update(b"activity-host compiled component\0");
        engine.precompile_compatibility_hash().hash(&mut hasher);
        hasher.0.update(blake3::hash(wasm).as_bytes());
        hasher.0.finalize().to_hex().to_string()
    }

    /// The compiled component for `wasm`: from the cache when a sound entry
    /// exists, else compiled and stored.
    pub fn component(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<(Component, Source)> {
        let key = Self::key(engine, wasm);
        let artefact = self.dir.join(format!("{key}.cwasm"));
        let checksum = self.dir.join(format!("{key}.blake3"));
        if let Some(component) = self.lookup(engine, &artefact, &checksum) {
            return Ok((component, Source::Cached));
        }
        let bytes = engine.precompile_component(wasm)?;
        if let Err(e) = self.store(&artefact, &checksum, &bytes) {
            tracing::warn!(dir = %self.dir.display(), "cannot store a compiled plugin in the cache: {e}");
        }
        // SAFETY: `bytes` was produced by `precompile_component` on this engine just now.
        let component = unsafe { Component::deserialize(engine, &bytes)? };
        Ok((component, Source::Compiled))
    }

    fn lookup(&self, engine: &Engine, artefact: &Path, checksum: &Path) -> Option<Component> {
        let expected = std::fs::read_to_string(checksum).ok()?;
        let actual = blake3::Hasher::new().update_mmap(artefact).ok()?.finalize();
        if actual.to_hex().as_str() != expected.trim() {
            tracing::warn!(entry = %artefact.display(), "corrupt compiled plugin in the cache: removed, compiling again");
            let _ = std::fs::remove_file(artefact);
            let _ = std::fs::remove_file(checksum);
            return None;
        }
        // SAFETY: the file is a wasmtime artefact this cache wrote (its hash
        // matches what was stored beside it), entries are immutable once
        // renamed into place, and wasmtime checks its version and
        // configuration header before using it.
        match unsafe { Component::deserialize_file(engine, artefact) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(entry = %artefact.display(), "unusable compiled plugin in the cache ({e}): compiling again");
                let _ = std::fs::remove_file(artefact);
                None
            }
        }
    }

    fn store(&self, artefact: &Path, checksum: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let write = |target: &Path, data: &[u8]| -> std::io::Result<()> {
            let temp = target.with_extension(format!("tmp{}", std::process::id()));
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(data)?;
            file.sync_all()?;
            std::fs::rename(&temp, target)
        };
        // The artefact first: an entry counts only once its checksum exists.
        write(artefact, bytes)?;
        write(checksum, blake3::hash(bytes).to_hex().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(epochs: bool) -> Engine {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(epochs);
        Engine::new(&config).unwrap()
    }

    /// The smallest component: valid, imports and exports nothing.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("activity-host-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_second_load_comes_from_the_cache() {
        let dir = temp_dir("hit");
        let cache = Cache::open(&dir).unwrap();
        let engine = engine(true);
        assert_eq!(cache.component(&engine, EMPTY_COMPONENT).unwrap().1, Source::Compiled);
        assert_eq!(cache.component(&engine, EMPTY_COMPONENT).unwrap().1, Source::Cached);
        // Another configuration is another key: never a stale hit.
        assert_eq!(cache.component(&self::engine(false), EMPTY_COMPONENT).unwrap().1, Source::Compiled);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_corrupt_entry_is_rebuilt_not_trusted() {
        let dir = temp_dir("corrupt");
        let cache = Cache::open(&dir).unwrap();
        let engine = engine(true);
        cache.component(&engine, EMPTY_COMPONENT).unwrap();
        let artefact = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .unwrap();
        let mut bytes = std::fs::read(&artefact).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&artefact, &bytes).unwrap();
        assert_eq!(cache.component(&engine, EMPTY_COMPONENT).unwrap().1, Source::Compiled);
        assert_eq!(cache.component(&engine, EMPTY_COMPONENT).unwrap().1, Source::Cached);

        std::fs::write(&artefact, b"truncated").unwrap();
        assert_eq!(cache.component(&engine, EMPTY_COMPONENT).unwrap().1, Source::Compiled);
        let _ = std::fs::remove_dir_all(dir);
    }
}
