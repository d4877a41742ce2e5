//! What to build, apart from how it is written. A recipe is one per-arch
//! image: its platform, its files (a context that keeps each file's
//! origin), how those files group into layers, its image config, the
//! images to save into `registry/`, and an optional base image. Rootfs
//! cells, application and config images all become recipes, so one writer
//! (`pipeline::write_recipe`) and one publisher (`pipeline::publish`)
//! serve all.

use std::collections::BTreeMap;

use crate::axis::Arch;
use crate::context::{Context, Origin};
use crate::oci::{Compression, ImageConfig, LayerFile, LayerSpec};

/// One per-arch image to build.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Image name (`kubernetes`, an application's name).
    pub image: String,
    /// The per-arch tag it is recorded under (`v1.24.4-4.1.3-amd64`).
    pub tag: String,
    /// The platform's architecture (the OS is always linux).
    pub platform: Arch,
    /// Every file, with its origin.
    pub context: Context,
    /// How the files group into layers.
    pub layers: LayerPolicy,
    /// Labels, env, cmd, author.
    pub config: ImageConfig,
    /// Images to save into `registry/` for the platform, in list order.
    pub images: Vec<String>,
    /// An image whose layers and config come first (`FROM`); `None` is
    /// `FROM scratch`.
    pub base: Option<String>,
}

/// Which files a layer group takes, by origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Takes {
    /// Files of any runtime context folder.
    Contexts,
    /// Files of these components' artifacts.
    Artifacts(Vec<String>),
    /// Saved images (`registry/`).
    Registry,
    /// Rendered templates and generated files.
    Generated,
}

impl Takes {
    fn matches(&self, origin: &Origin) -> bool {
        match (self, origin) {
            (Takes::Contexts, Origin::Context(_)) => true,
            (Takes::Artifacts(names), Origin::Artifact(name)) => names.contains(name),
            (Takes::Registry, Origin::Registry) => true,
            (Takes::Generated, Origin::Template(_) | Origin::Generated(_)) => true,
            _ => false,
        }
    }
}

/// A named layer and the origins it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerGroup {
    /// The layer's name (shown in the image history).
    pub name: String,
    /// What it takes.
    pub takes: Vec<Takes>,
}

/// Layers in order; a file goes to the first group that takes it, files no
/// group takes go to a last layer named `rest`. Groups that take files
/// shared by many images (runtime, binaries, saved images) come first so
/// images share those layers; files of one image come last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerPolicy {
    /// The groups, in layer order.
    pub groups: Vec<LayerGroup>,
}

impl LayerPolicy {
    /// Splits a context into layer specs (empty groups are dropped).
    pub fn split<'c>(
        &self,
        context: &'c Context,
        compression: Compression,
        mtime: u64,
    ) -> Vec<LayerSpec<'c>> {
        let rest = self.groups.len();
        let mut buckets: BTreeMap<usize, Vec<LayerFile<'c>>> = BTreeMap::new();
        for (path, entry) in context.entries() {
            let index = self
                .groups
                .iter()
                .position(|group| group.takes.iter().any(|takes| takes.matches(&entry.origin)))
                .unwrap_or(rest);
            buckets.entry(index).or_default().push(LayerFile { path, entry });
        }
        buckets
            .into_iter()
            .map(|(index, files)| LayerSpec {
                name: self
                    .groups
                    .get(index)
                    .map_or_else(|| "rest".to_string(), |group| group.name.clone()),
                files,
                compression,
                mtime,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Content, Entry};

    fn add(context: &mut Context, path: &str, origin: Origin) {
        let entry = Entry {
            content: Content::Bytes(path.as_bytes().to_vec()),
            mode: 0o644,
            origin,
        };
        context.insert(path.to_string(), entry, &[]).unwrap();
    }

    #[test]
    fn files_go_to_the_first_group_that_takes_them() {
        let mut context = Context::new();
        add(&mut context, "etc/a", Origin::Context("kube".into()));
        add(&mut context, "bin/kubelet", Origin::Artifact("kubelet".into()));
        add(&mut context, "bin/kubectl", Origin::Artifact("kubectl".into()));
        add(&mut context, "cri/x", Origin::Artifact("containerd".into()));
        add(&mut context, "Kubefile", Origin::Generated("Kubefile"));
        let policy = LayerPolicy {
            groups: vec![
                LayerGroup {
                    name: "runtime".into(),
                    takes: vec![Takes::Contexts],
                },
                LayerGroup {
                    name: "kube".into(),
                    takes: vec![Takes::Artifacts(vec!["kubelet".into(), "kubectl".into()])],
                },
                LayerGroup {
                    name: "cell".into(),
                    takes: vec![Takes::Generated],
                },
            ],
        };
        let specs = policy.split(&context, Compression::None, 0);
        let names: Vec<(&str, usize)> = specs.iter().map(|s| (s.name.as_str(), s.files.len())).collect();
        assert_eq!(names, vec![("runtime", 1), ("kube", 2), ("cell", 1), ("rest", 1)]);
    }
}
