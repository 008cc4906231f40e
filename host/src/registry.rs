//! Activity type → plugin: the host-wide rules, and dispatch.
//!
//! A registry is an immutable snapshot built from the loaded plugins in file
//! name order, so its answer never depends on load timing. Reloading builds
//! a new snapshot; executions in flight keep the `Arc<Plugin>` they started
//! with and finish on the old version.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::execute::Request;
use crate::failure::{Failure, Outcome};
use crate::plugin::{LoadError, Plugin};

/// A plugin file the host does not serve, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub path: PathBuf,
    pub reason: String,
}

/// A plugin served without its dynamic activity, because another plugin
/// holds the host's one dynamic entry; its named activities are served.
#[derive(Debug, Clone, PartialEq)]
pub struct DroppedDynamic {
    pub path: PathBuf,
    /// The dynamic activity it declared.
    pub name: String,
    pub reason: String,
}

impl std::fmt::Display for DroppedDynamic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: dynamic activity {} not served: {}", self.path.display(), self.name, self.reason)
    }
}

/// A plugin file offered to [`Registry::build`].
pub struct Candidate {
    pub path: PathBuf,
    /// What the file loaded as.
    pub loaded: Result<Arc<Plugin>, LoadError>,
    /// The version of this file serving until now, if any.
    pub previous: Option<Arc<Plugin>>,
}

/// Which plugins serve which activity types.
#[derive(Default)]
pub struct Registry {
    by_name: HashMap<String, Arc<Plugin>>,
    dynamic: Option<Arc<Plugin>>,
    plugins: Vec<Arc<Plugin>>,
    refused: Vec<Refusal>,
    dropped: Vec<DroppedDynamic>,
}

impl Registry {
    /// Applies the host-wide rules to candidates in order (callers pass them
    /// sorted by file name, plugins already serving first): a name already
    /// registered refuses the later plugin as a whole, since a workflow
    /// calling that name would get either plugin depending on the order of
    /// files. A second dynamic entry is only dropped: which plugin answers
    /// unknown names is decided by the same order, and the later plugin's
    /// named activities harm nobody (a plugin left with nothing to serve is
    /// refused). A candidate that fails to load or to fit falls back to its
    /// previous version, if it has one.
    pub fn build(candidates: impl IntoIterator<Item = Candidate>) -> Registry {
        let mut registry = Registry::default();
        for Candidate { path, loaded, previous } in candidates {
            let reason = match loaded {
                Ok(plugin) => match registry.admit(&plugin) {
                    Ok(()) => continue,
                    Err(reason) => reason,
                },
                Err(error) => error.to_string(),
            };
            let kept = previous.is_some_and(|p| registry.admit(&p).is_ok());
            let reason = if kept { format!("{reason}; still serving the previous version") } else { reason };
            registry.refused.push(Refusal { path, reason });
        }
        registry
    }

    /// The registry of freshly loaded files, in the order given.
    pub fn from_loaded(loaded: impl IntoIterator<Item = (PathBuf, Result<Arc<Plugin>, LoadError>)>) -> Registry {
        Registry::build(loaded.into_iter().map(|(path, loaded)| Candidate { path, loaded, previous: None }))
    }

    fn admit(&mut self, plugin: &Arc<Plugin>) -> Result<(), String> {
        let mut second_dynamic = None;
        for d in plugin.definitions() {
            if d.dynamic {
                if let Some(holder) = &self.dynamic {
                    second_dynamic = Some(DroppedDynamic {
                        path: plugin.path().to_path_buf(),
                        name: d.name.clone(),
                        reason: format!(
                            "{} already has the dynamic activity {}, and a host serves at most one",
                            holder.path().display(),
                            dynamic_name(holder)
                        ),
                    });
                }
            } else if let Some(holder) = self.by_name.get(&d.name) {
                return Err(format!("activity {} is already registered by {}", d.name, holder.path().display()));
            }
        }
        if let Some(dropped) = &second_dynamic
            && plugin.definitions().iter().all(|d| d.dynamic)
        {
            return Err(format!("its dynamic activity {} would be a second one: {}", dropped.name, dropped.reason));
        }
        for d in plugin.definitions() {
            if d.dynamic {
                if second_dynamic.is_none() {
                    self.dynamic = Some(plugin.clone());
                }
            } else {
                self.by_name.insert(d.name.clone(), plugin.clone());
            }
        }
        self.plugins.push(plugin.clone());
        self.dropped.extend(second_dynamic);
        Ok(())
    }

    /// The plugin that serves `activity_type`: the one registering the name,
    /// else the one with the dynamic entry.
    pub fn resolve(&self, activity_type: &str) -> Option<&Arc<Plugin>> {
        self.by_name.get(activity_type).or(self.dynamic.as_ref())
    }

    /// Runs `request` on the plugin that serves its activity type, or fails
    /// with `NotFoundError` as a native worker would.
    pub async fn execute(&self, request: Request) -> Outcome {
        match self.resolve(&request.info.activity_type) {
            Some(plugin) => plugin.execute(request).await,
            None => Outcome::Failed(self.not_found(&request.info.activity_type, request.info.workflow_id.as_deref())),
        }
    }

    /// The failure for an activity type nothing serves.
    pub fn not_found(&self, activity_type: &str, workflow_id: Option<&str>) -> Failure {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        Failure::not_found(activity_type, workflow_id, &names)
    }

    /// Registered activity types with their plugins, sorted by name.
    pub fn activities(&self) -> Vec<(&str, &Arc<Plugin>)> {
        let mut all: Vec<_> = self.by_name.iter().map(|(n, p)| (n.as_str(), p)).collect();
        all.sort_unstable_by_key(|(n, _)| *n);
        all
    }

    /// The plugin holding the dynamic entry, if any.
    pub fn dynamic(&self) -> Option<&Arc<Plugin>> {
        self.dynamic.as_ref()
    }

    /// Plugins served, in file name order.
    pub fn plugins(&self) -> &[Arc<Plugin>] {
        &self.plugins
    }

    /// Plugin files refused, in file name order.
    pub fn refused(&self) -> &[Refusal] {
        &self.refused
    }

    /// Plugins served without their dynamic activity, in file name order.
    pub fn dropped(&self) -> &[DroppedDynamic] {
        &self.dropped
    }

    /// Whether anything offered is not served: a refused file or a dropped
    /// dynamic activity.
    pub fn refused_anything(&self) -> bool {
        !self.refused.is_empty() || !self.dropped.is_empty()
    }

    /// What `plugin` serves here, for logs and listings: its
    /// [`Plugin::describe`], less a dynamic activity this registry dropped.
    pub fn describe(&self, plugin: &Plugin) -> String {
        let dropped = self.dropped.iter().any(|d| d.path == plugin.path());
        let names: Vec<String> = plugin
            .definitions()
            .iter()
            .filter(|d| !(d.dynamic && dropped))
            .map(|d| if d.dynamic { format!("{} (dynamic)", d.name) } else { d.name.clone() })
            .collect();
        names.join(", ")
    }
}

/// Logs what changed between two registries: plugins loaded (with their
/// activities and load time), unloaded, and refused among `changed` files.
pub(crate) fn log_changes(old: &Registry, new: &Registry, changed: &[PathBuf]) {
    for plugin in new.plugins() {
        if !old.plugins().iter().any(|p| Arc::ptr_eq(p, plugin)) {
            tracing::info!(
                plugin = %plugin.path().display(),
                activities = %new.describe(plugin),
                load_ms = plugin.load_time().as_millis() as u64,
                cached = plugin.source() == crate::cache::Source::Cached,
                "plugin loaded"
            );
        }
    }
    for plugin in old.plugins() {
        if !new.plugins().iter().any(|p| p.path() == plugin.path()) {
            tracing::info!(plugin = %plugin.path().display(), "plugin unloaded: its activities are no longer served");
        }
    }
    for refusal in new.refused() {
        if changed.contains(&refusal.path) {
            tracing::warn!(plugin = %refusal.path.display(), "plugin refused: {}", refusal.reason);
        }
    }
    for dropped in new.dropped() {
        if changed.contains(&dropped.path) || !old.dropped().contains(dropped) {
            tracing::warn!(
                plugin = %dropped.path.display(),
                "dynamic activity {} not served (the plugin's other activities are): {}",
                dropped.name,
                dropped.reason
            );
        }
    }
    // The dynamic entry moved to a plugin that was serving without it (its
    // holder went): say so, as nothing else about that plugin changed.
    if let Some(holder) = new.dynamic()
        && old.dropped().iter().any(|d| d.path == holder.path())
        && old.plugins().iter().any(|p| Arc::ptr_eq(p, holder))
    {
        tracing::info!(plugin = %holder.path().display(), "now serving its dynamic activity {}", dynamic_name(holder));
    }
}

/// The name a plugin gives its dynamic entry (its function name, usually).
pub fn dynamic_name(plugin: &Plugin) -> &str {
    plugin.definitions().iter().find(|d| d.dynamic).map_or("", |d| d.name.as_str())
}
