//! The one publisher: after images are written, their per-arch tags and
//! aliases point at the new manifests, and each multi-arch index they join
//! is written (with its aliases) only once every arch it needs exists in
//! the store, whether written now or by an earlier run. Rootfs cells,
//! application and config images are published the same way.

use std::collections::{BTreeMap, HashMap};

use oci_spec::image::Descriptor;

use crate::axis::Arch;
use crate::oci::{IndexEntry, RefName, Store, StoreError, build_index, ref_name};
use crate::plan::{CellTags, PlannedCell};
use crate::tag::{Tag, TagError};

/// Where one per-arch image goes: its tags and the index it joins.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Image (repository) name.
    pub image: String,
    /// Its platform.
    pub arch: Arch,
    /// The per-arch tag, the index tag and their aliases.
    pub tags: CellTags,
    /// Every arch the index needs before it is published, with its
    /// per-arch tag (an arch written earlier is found by it).
    pub members: BTreeMap<Arch, Tag>,
}

impl Placement {
    /// A planned rootfs cell: its index needs every arch the plan gives it.
    pub fn of_cell(cell: &PlannedCell, plan: &[PlannedCell]) -> Placement {
        let members = plan
            .iter()
            .filter(|c| c.image == cell.image && c.tags.index_tag == cell.tags.index_tag)
            .chain([cell])
            .map(|c| (c.cell.arch, c.tags.tag.clone()))
            .collect();
        Placement {
            image: cell.image.clone(),
            arch: cell.cell.arch,
            tags: cell.tags.clone(),
            members,
        }
    }

    /// An application or config image `name:<version>-<arch>`, joining the
    /// `<version>` index of `arches`.
    pub fn of_app(name: &str, version: &str, arch: Arch, arches: &[Arch]) -> Result<Placement, TagError> {
        Ok(Placement {
            image: name.to_string(),
            arch,
            tags: CellTags {
                tag: app_tag(version, arch)?,
                index_tag: version.parse()?,
                aliases: Vec::new(),
                index_aliases: Vec::new(),
            },
            members: arches
                .iter()
                .chain([&arch])
                .map(|a| Ok((*a, app_tag(version, *a)?)))
                .collect::<Result<_, TagError>>()?,
        })
    }
}

/// The per-arch tag of an application or config image
/// ([`crate::app::arch_tag`], the one rule), validated.
pub fn app_tag(version: &str, arch: Arch) -> Result<Tag, TagError> {
    crate::app::arch_tag(version, arch).parse()
}

/// Points the per-arch tags and aliases of `written` at their manifests,
/// then writes each index whose every arch the store has. Returns the
/// indexes written, by image and index tag.
pub fn publish(
    store: &Store,
    written: &[(Placement, Descriptor)],
) -> Result<BTreeMap<(String, Tag), Descriptor>, StoreError> {
    let mut refs: Vec<(RefName, Descriptor)> = Vec::new();
    let mut groups: BTreeMap<(String, Tag), Vec<&(Placement, Descriptor)>> = BTreeMap::new();
    for item in written {
        let (placement, descriptor) = item;
        for tag in std::iter::once(&placement.tags.tag).chain(&placement.tags.aliases) {
            refs.push((RefName::new(&placement.image, tag), descriptor.clone()));
        }
        groups
            .entry((placement.image.clone(), placement.tags.index_tag.clone()))
            .or_default()
            .push(item);
    }
    store.set_refs(refs)?;
    // Every ref of the store, read once (resolving one by one re-reads
    // index.json per group).
    let existing: HashMap<String, Descriptor> = store
        .index()?
        .into_iter()
        .filter_map(|d| ref_name(&d).map(|name| (name.to_string(), d.clone())))
        .collect();
    let mut index_refs = Vec::new();
    let mut indexes = BTreeMap::new();
    for ((image, index_tag), members) in groups {
        let Some((first, _)) = members.first().copied() else {
            continue;
        };
        let mut entries: BTreeMap<Arch, Descriptor> =
            members.iter().map(|(p, d)| (p.arch, d.clone())).collect();
        // Arches written earlier into this store join the index too; an
        // index is only published when every arch it needs exists.
        let needed: BTreeMap<Arch, &Tag> = members
            .iter()
            .flat_map(|(p, _)| &p.members)
            .map(|(a, t)| (*a, t))
            .collect();
        for (arch, tag) in &needed {
            if !entries.contains_key(arch)
                && let Some(descriptor) = existing.get(&RefName::new(&image, tag).to_string())
            {
                entries.insert(*arch, descriptor.clone());
            }
        }
        if needed.keys().any(|arch| !entries.contains_key(arch)) {
            continue;
        }
        let entries: Vec<IndexEntry> = entries
            .into_iter()
            .map(|(arch, descriptor)| IndexEntry { descriptor, arch })
            .collect();
        let index = build_index(store, &entries)?;
        for tag in std::iter::once(&first.tags.index_tag).chain(&first.tags.index_aliases) {
            index_refs.push((RefName::new(&image, tag), index.clone()));
        }
        indexes.insert((image, index_tag), index);
    }
    store.set_refs(index_refs)?;
    Ok(indexes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Matrix;
    use crate::context::{Content, Entry, Origin};
    use crate::digest::Sha256;
    use crate::oci::{Compression, ImageConfig, LayerFile, LayerSpec, build_manifest, write_layer};
    use crate::plan::Plan;

    /// A one-layer image for `cell`, placed as a build places it.
    fn built(store: &Store, plan: &Plan, cell: &PlannedCell) -> (Placement, Descriptor) {
        let entry = Entry {
            content: Content::Bytes(format!("{}\n", cell.tags.tag).into_bytes()),
            mode: 0o644,
            origin: Origin::Generated("test"),
        };
        let spec = LayerSpec {
            name: "cell".into(),
            files: vec![LayerFile {
                path: "tag.txt",
                entry: &entry,
            }],
            compression: Compression::Gzip(1),
            mtime: 0,
        };
        let layer = write_layer(store, &spec).unwrap();
        let info = build_manifest(
            store,
            cell.cell.arch,
            &ImageConfig::default(),
            &[("cell".into(), layer)],
            0,
        )
        .unwrap();
        (Placement::of_cell(cell, &plan.cells), info.descriptor)
    }

    #[test]
    fn an_index_is_published_only_when_every_arch_is_built() {
        let matrix =
            Matrix::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("matrix.toml")).unwrap();
        let plan = Plan::build(&matrix).unwrap();
        let selector = "kubernetes:v1.24.4-4.1.3".parse().unwrap();
        let cells = plan.select(&selector);
        assert_eq!(cells.len(), 2, "amd64 and arm64");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let index = RefName::new("kubernetes", &cells[0].tags.index_tag);

        let first = [built(&store, &plan, cells[0])];
        publish(&store, &first).unwrap();
        let per_arch = RefName::new("kubernetes", &cells[0].tags.tag);
        assert!(store.resolve(&per_arch).unwrap().is_some());
        assert!(
            store.resolve(&index).unwrap().is_none(),
            "one arch is not an index"
        );

        // A later run builds the other arch: the index gathers both.
        let second = [built(&store, &plan, cells[1])];
        publish(&store, &second).unwrap();
        let descriptor = store.resolve(&index).unwrap().expect("the index");
        let digest: Sha256 = descriptor.digest().to_string().parse().unwrap();
        let index: oci_spec::image::ImageIndex = store.read_json(&digest).unwrap();
        let arches: Vec<String> = index
            .manifests()
            .iter()
            .map(|m| m.platform().as_ref().unwrap().architecture().to_string())
            .collect();
        assert_eq!(arches, vec!["amd64", "arm64"]);
    }
}
