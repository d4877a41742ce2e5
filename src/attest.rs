//! What an image is made of and how it was made, as documents a supply
//! chain reads: an SPDX 2.3 SBOM and an in-toto v1 statement with a SLSA
//! provenance v1 predicate. Pure: the writer gathers [`Facts`] and stores
//! the bytes; equal facts give equal bytes (the clock is
//! `SOURCE_DATE_EPOCH`, lists are sorted, keys are sorted when stored).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::axis::Arch;
use crate::digest::Sha256;
use crate::oci::rfc3339;

/// The SBOM's media type (its blob and its referrer's `artifactType`).
pub const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
/// The provenance statement's media type.
pub const IN_TOTO_MEDIA_TYPE: &str = "application/vnd.in-toto+json";
/// Who made the documents.
pub const BUILDER_ID: &str = "https://github.com/labring/matrix";
/// What kind of build the provenance describes.
pub const BUILD_TYPE: &str = "https://github.com/labring/matrix/build/v1";

/// A downloaded artifact the image was built from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Source {
    /// Component name (`kubelet`).
    pub component: String,
    /// Resolved version.
    pub version: String,
    /// Upstream URL (before mirrors).
    pub url: String,
    /// Verified digest of the download.
    pub sha256: Sha256,
    /// The SPDX license expression matrix.toml declares for it.
    #[serde(default)]
    pub license: Option<String>,
}

/// A file placed in the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct File {
    /// Path inside the image (`bin/kubelet`).
    pub path: String,
    /// Digest of its bytes.
    pub sha256: Sha256,
    /// SHA-1 of its bytes, hex (SPDX 2.x requires it on every file; only
    /// `sha256` is trusted).
    pub sha1: String,
    /// The component it came from, if it was downloaded.
    pub component: Option<String>,
}

/// An image by reference and manifest digest: one saved into
/// `registry/`, or the base image (`FROM`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SavedImage {
    /// The reference as the image list names it
    /// (`registry.k8s.io/pause:3.7`).
    pub reference: String,
    /// Manifest digest.
    pub digest: Sha256,
}

/// A Helm chart an application image ships.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Chart {
    /// `Chart.yaml` `name`.
    pub name: String,
    /// `Chart.yaml` `version`.
    pub version: String,
    /// Where it is in the image (`charts/nginx`, `charts/x.tgz`).
    pub path: String,
    /// The archive's digest, or the digest of a folder's
    /// `sha256  path` listing.
    pub sha256: Sha256,
}

/// What an image is built from: downloads, input files, the base image,
/// charts, and what was asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    /// Downloads, by component (a Kubefile's COPY URLs too).
    pub sources: Vec<Source>,
    /// The `FROM` image and its manifest digest for this platform.
    #[serde(default)]
    pub base: Option<SavedImage>,
    /// Charts the image ships.
    #[serde(default)]
    pub charts: Vec<Chart>,
    /// Named input files and their digests (`matrix.toml`).
    pub materials: BTreeMap<String, Sha256>,
    /// What was asked for (`cell`, `selection`, `app`).
    pub parameters: BTreeMap<String, String>,
}

/// Everything the documents say about one per-arch image.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// Image name (`kubernetes`).
    pub image: &'a str,
    /// Per-arch tag.
    pub tag: &'a str,
    /// Platform.
    pub arch: Arch,
    /// The image manifest's digest.
    pub digest: &'a Sha256,
    /// Build inputs.
    pub inputs: &'a Inputs,
    /// Files placed (registry content excluded: see `images`).
    pub files: Vec<File>,
    /// Images saved into `registry/`.
    pub images: Vec<SavedImage>,
    /// Images the image list names that were not saved (no digest:
    /// `--skip-images`).
    pub referenced: Vec<String>,
    /// `SOURCE_DATE_EPOCH`.
    pub epoch: u64,
}

/// An SPDX id from free text (letters, digits, `.` and `-` only); text
/// that had to change gets a digest suffix so two names never share an id.
fn spdx_id(kind: &str, text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == text {
        format!("SPDXRef-{kind}-{clean}")
    } else {
        format!(
            "SPDXRef-{kind}-{clean}-{}",
            &Sha256::of(text.as_bytes()).hex()[..8]
        )
    }
}

/// The package URL of a saved image (`pkg:oci/pause@sha256%3A…?repository_url=…&tag=…`).
fn image_purl(repository: &str, tag: &str, digest: &Sha256) -> String {
    let name = repository.rsplit('/').next().unwrap_or(repository);
    let mut purl = format!(
        "pkg:oci/{name}@sha256%3A{}?repository_url={repository}",
        digest.hex()
    );
    if !tag.is_empty() {
        purl.push_str(&format!("&tag={tag}"));
    }
    purl
}

/// SPDX's package verification code: the SHA-1 of the package's file
/// SHA-1s (hex), sorted and concatenated.
fn verification_code(sums: &[&str]) -> String {
    use sha1::Digest;
    let mut sorted = sums.to_vec();
    sorted.sort_unstable();
    hex::encode(sha1::Sha1::digest(sorted.concat().as_bytes()))
}

/// Who supplies a saved image: the registry host its reference names
/// (Docker Hub when there is none).
fn image_supplier(reference: &str) -> String {
    let host = reference
        .split_once('/')
        .map(|(first, _)| first)
        .filter(|first| first.contains('.') || first.contains(':') || *first == "localhost")
        .unwrap_or("docker.io");
    format!("Organization: {host}")
}

/// `image CONTAINS id`.
fn contains(image_id: &str, id: &str) -> Value {
    json!({
        "spdxElementId": image_id,
        "relationshipType": "CONTAINS",
        "relatedSpdxElement": id,
    })
}

/// A reference's repository and tag (`registry:5000/a` has no tag).
fn split_reference(reference: &str) -> (&str, &str) {
    let name = reference.split_once('@').map_or(reference, |(name, _)| name);
    match name.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => (repository, tag),
        _ => (name, ""),
    }
}

/// The package of an image by reference (a saved, base or referenced
/// image); without a digest it has no checksum (not pulled).
fn image_package(id: &str, reference: &str, digest: Option<&Sha256>, comment: &str) -> Value {
    let (repository, version) = split_reference(reference);
    let mut package = json!({
        "SPDXID": id,
        "name": repository,
        "versionInfo": if version.is_empty() { "NOASSERTION" } else { version },
        "supplier": image_supplier(reference),
        // SPDX has no scheme for registry references: the purl says it.
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "comment": comment,
    });
    if let Some(digest) = digest {
        package["checksums"] = checksum(digest);
        package["externalRefs"] = json!([{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": image_purl(repository, version, digest),
        }]);
    }
    package
}

/// The packages of an image's other inputs: the base image, the charts it
/// ships, and images its lists name that were not saved.
fn input_packages(
    facts: &Facts<'_>,
    image_id: &str,
    packages: &mut Vec<Value>,
    relationships: &mut Vec<Value>,
) {
    if let Some(base) = &facts.inputs.base {
        let id = spdx_id("Base", &base.reference);
        packages.push(image_package(
            &id,
            &base.reference,
            Some(&base.digest),
            "the base image (FROM); its layers are the image's first",
        ));
        relationships.push(contains(image_id, &id));
    }
    let mut charts = facts.inputs.charts.clone();
    charts.sort();
    charts.dedup();
    for chart in &charts {
        let id = spdx_id("Chart", &chart.path);
        packages.push(json!({
            "SPDXID": id,
            "name": chart.name,
            "versionInfo": if chart.version.is_empty() { "NOASSERTION" } else { &chart.version },
            "supplier": format!("Organization: {} upstream", chart.name),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "SOURCE",
            "checksums": checksum(&chart.sha256),
            "comment": format!("Helm chart at {} in the image", chart.path),
        }));
        relationships.push(contains(image_id, &id));
    }
    let mut referenced = facts.referenced.clone();
    referenced.sort();
    referenced.dedup();
    for reference in &referenced {
        let id = spdx_id("Referenced", reference);
        packages.push(image_package(
            &id,
            reference,
            None,
            "named by the image list, not saved into registry/",
        ));
        relationships.push(contains(image_id, &id));
    }
}

fn checksum(sha256: &Sha256) -> Value {
    json!([{ "algorithm": "SHA256", "checksumValue": sha256.hex() }])
}

/// The image's SPDX 2.3 document: the image as the described package, one
/// package per download (supplier, version, download location, digest),
/// one per saved image, one file entry per placed file.
pub fn spdx(facts: &Facts<'_>) -> Value {
    let image_id = "SPDXRef-Image".to_string();
    let name = format!("{}:{}", facts.image, facts.tag);
    let supplier = "Organization: labring";
    let mut packages = vec![json!({
        "SPDXID": image_id,
        "name": name,
        "versionInfo": facts.tag,
        "supplier": supplier,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "checksums": checksum(facts.digest),
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": format!("pkg:oci/{}@sha256%3A{}?arch={}&tag={}", facts.image, facts.digest.hex(), facts.arch, facts.tag),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image_id,
    })];
    let mut sources = facts.inputs.sources.clone();
    sources.sort();
    sources.dedup();
    for source in &sources {
        let id = spdx_id("Package", &format!("{}-{}", source.component, source.version));
        packages.push(json!({
            "SPDXID": id,
            "name": source.component,
            "versionInfo": source.version,
            "supplier": format!("Organization: {} upstream", source.component),
            "downloadLocation": source.url,
            "licenseDeclared": source.license.as_deref().unwrap_or("NOASSERTION"),
            "filesAnalyzed": false,
            "checksums": checksum(&source.sha256),
        }));
        relationships.push(json!({
            "spdxElementId": image_id,
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    let mut images = facts.images.clone();
    images.sort();
    images.dedup();
    for image in &images {
        let id = spdx_id("Image", &image.reference);
        let comment = format!("saved into registry/ for linux/{}", facts.arch);
        packages.push(image_package(
            &id,
            &image.reference,
            Some(&image.digest),
            &comment,
        ));
        relationships.push(contains(&image_id, &id));
    }
    input_packages(facts, &image_id, &mut packages, &mut relationships);
    let mut files = facts.files.clone();
    files.sort();
    let mut owned: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let files: Vec<Value> = files
        .iter()
        .map(|file| {
            let id = spdx_id("File", &file.path);
            let owner = file
                .component
                .as_ref()
                .and_then(|c| sources.iter().find(|s| &s.component == c))
                .map_or(image_id.clone(), |s| {
                    spdx_id("Package", &format!("{}-{}", s.component, s.version))
                });
            relationships.push(json!({
                "spdxElementId": owner,
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": id,
            }));
            owned.entry(owner).or_default().push(&file.sha1);
            json!({
                "SPDXID": id,
                "fileName": format!("./{}", file.path),
                "checksums": [
                    { "algorithm": "SHA1", "checksumValue": file.sha1 },
                    { "algorithm": "SHA256", "checksumValue": file.sha256.hex() },
                ],
            })
        })
        .collect();
    // A package that contains files says so, with the SPDX verification
    // code over their SHA-1s.
    for package in &mut packages {
        if let Some(sums) = package["SPDXID"].as_str().and_then(|id| owned.get(id)) {
            package["filesAnalyzed"] = json!(true);
            package["packageVerificationCode"] =
                json!({ "packageVerificationCodeValue": verification_code(sums) });
        }
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": format!("https://github.com/labring/matrix/spdx/{}/{}", facts.image, facts.digest.hex()),
        "creationInfo": {
            "created": rfc3339(facts.epoch),
            "creators": [format!("Tool: matrix-{}", env!("CARGO_PKG_VERSION")), "Organization: labring"],
        },
        "packages": packages,
        "files": files,
        "relationships": relationships,
    })
}

/// The image's in-toto v1 statement with a SLSA provenance v1 predicate.
pub fn provenance(facts: &Facts<'_>) -> Value {
    let mut dependencies: Vec<Value> = facts
        .inputs
        .materials
        .iter()
        .map(|(name, digest)| json!({ "name": name, "digest": { "sha256": digest.hex() } }))
        .collect();
    let mut sources = facts.inputs.sources.clone();
    sources.sort();
    sources.dedup();
    dependencies.extend(sources.iter().map(|s| {
        json!({
            "name": format!("{} {}", s.component, s.version),
            "uri": s.url,
            "digest": { "sha256": s.sha256.hex() },
        })
    }));
    let mut images = facts.images.clone();
    images.sort();
    images.dedup();
    images.extend(facts.inputs.base.iter().cloned());
    dependencies.extend(images.iter().map(
        |i| json!({ "uri": format!("docker://{}", i.reference), "digest": { "sha256": i.digest.hex() } }),
    ));
    let mut charts = facts.inputs.charts.clone();
    charts.sort();
    charts.dedup();
    dependencies.extend(charts.iter().map(|c| {
        json!({ "name": format!("{} {} ({})", c.name, c.version, c.path), "digest": { "sha256": c.sha256.hex() } })
    }));
    let mut parameters = facts.inputs.parameters.clone();
    parameters.insert("image".into(), format!("{}:{}", facts.image, facts.tag));
    parameters.insert("platform".into(), format!("linux/{}", facts.arch));
    let time = rfc3339(facts.epoch);
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{
            "name": format!("{}:{}", facts.image, facts.tag),
            "digest": { "sha256": facts.digest.hex() },
        }],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": parameters,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": { "matrix": env!("CARGO_PKG_VERSION") },
                },
                "metadata": { "startedOn": time, "finishedOn": time },
            },
        },
    })
}

/// The file entries of an SBOM: `path -> sha256`, for `verify`.
pub fn sbom_files(document: &Value) -> BTreeMap<String, String> {
    document["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|file| {
            let path = file["fileName"].as_str()?.trim_start_matches("./").to_string();
            let sum = file["checksums"]
                .as_array()?
                .iter()
                .find(|c| c["algorithm"] == "SHA256")?["checksumValue"]
                .as_str()?
                .to_string();
            Some((path, sum))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(digest: &'a Sha256, inputs: &'a Inputs) -> Facts<'a> {
        Facts {
            image: "kubernetes",
            tag: "v1.24.4-4.2.1-amd64",
            arch: Arch::Amd64,
            digest,
            inputs,
            files: vec![File {
                path: "bin/kubelet".into(),
                sha256: Sha256::of(b"kubelet"),
                sha1: "0".repeat(40),
                component: Some("kubelet".into()),
            }],
            images: vec![SavedImage {
                reference: "registry.k8s.io/pause:3.7".into(),
                digest: Sha256::of(b"pause"),
            }],
            referenced: Vec::new(),
            epoch: 1_700_000_000,
        }
    }

    fn inputs() -> Inputs {
        Inputs {
            sources: vec![Source {
                component: "kubelet".into(),
                version: "1.24.4".into(),
                url: "https://dl.k8s.io/v1.24.4/bin/linux/amd64/kubelet".into(),
                sha256: Sha256::of(b"kubelet"),
                license: Some("Apache-2.0".into()),
            }],
            materials: [("matrix.toml".to_string(), Sha256::of(b"toml"))].into(),
            parameters: BTreeMap::new(),
            ..Inputs::default()
        }
    }

    #[test]
    fn the_sbom_names_every_download_file_and_saved_image() {
        let digest = Sha256::of(b"manifest");
        let inputs = inputs();
        let doc = spdx(&facts(&digest, &inputs));
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        assert!(
            doc["documentNamespace"]
                .as_str()
                .unwrap()
                .ends_with(&digest.hex())
        );
        let names: Vec<&str> = doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "kubernetes:v1.24.4-4.2.1-amd64",
                "kubelet",
                "registry.k8s.io/pause"
            ]
        );
        let files = sbom_files(&doc);
        assert_eq!(files["bin/kubelet"], Sha256::of(b"kubelet").hex());
        assert_eq!(doc["relationships"].as_array().unwrap().len(), 4);
        assert_eq!(doc["packages"][2]["supplier"], "Organization: registry.k8s.io");
        assert_eq!(
            doc["packages"][2]["externalRefs"][0]["referenceLocator"],
            format!(
                "pkg:oci/pause@sha256%3A{}?repository_url=registry.k8s.io/pause&tag=3.7",
                Sha256::of(b"pause").hex()
            )
        );
    }

    #[test]
    fn verification_codes_do_not_depend_on_order() {
        let a = "a".repeat(40);
        let b = "b".repeat(40);
        assert_eq!(verification_code(&[&a, &b]), verification_code(&[&b, &a]));
        // SHA-1 of the empty string, for no files.
        assert_eq!(verification_code(&[]), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn ids_of_different_names_differ() {
        assert_eq!(spdx_id("File", "bin/a-b"), spdx_id("File", "bin/a-b"));
        assert_ne!(spdx_id("File", "bin/a_b"), spdx_id("File", "bin/a-b"));
        assert_eq!(
            spdx_id("Package", "kubelet-1.24.4"),
            "SPDXRef-Package-kubelet-1.24.4"
        );
    }

    #[test]
    fn provenance_lists_inputs_and_is_deterministic() {
        let digest = Sha256::of(b"manifest");
        let inputs = inputs();
        let a = provenance(&facts(&digest, &inputs));
        let b = provenance(&facts(&digest, &inputs));
        assert_eq!(serde_json::to_vec(&a).unwrap(), serde_json::to_vec(&b).unwrap());
        assert_eq!(a["predicateType"], "https://slsa.dev/provenance/v1");
        assert_eq!(a["subject"][0]["digest"]["sha256"], digest.hex());
        let deps = a["predicate"]["buildDefinition"]["resolvedDependencies"]
            .as_array()
            .unwrap();
        assert_eq!(deps.len(), 3, "matrix.toml, kubelet, pause");
    }

    #[test]
    fn licenses_base_charts_and_unsaved_images_are_packages() {
        let digest = Sha256::of(b"manifest");
        let mut inputs = inputs();
        inputs.sources[0].license = None;
        inputs.sources.push(Source {
            component: "runc".into(),
            version: "1.1.4".into(),
            url: "https://github.com/opencontainers/runc/releases/download/v1.1.4/runc.amd64".into(),
            sha256: Sha256::of(b"runc"),
            license: Some("Apache-2.0".into()),
        });
        inputs.base = Some(SavedImage {
            reference: "localhost:5000/base:1".into(),
            digest: Sha256::of(b"base"),
        });
        inputs.charts.push(Chart {
            name: "demo".into(),
            version: "0.3.1".into(),
            path: "charts/demo".into(),
            sha256: Sha256::of(b"chart"),
        });
        let mut facts = facts(&digest, &inputs);
        facts.referenced = vec!["docker.io/library/nginx:1.25.4".into()];
        let doc = spdx(&facts);
        let package = |name: &str| {
            doc["packages"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{name}"))
                .clone()
        };
        assert_eq!(package("kubelet")["licenseDeclared"], "NOASSERTION");
        assert_eq!(package("runc")["licenseDeclared"], "Apache-2.0");
        let base = package("localhost:5000/base");
        assert_eq!(base["versionInfo"], "1");
        assert_eq!(base["checksums"][0]["checksumValue"], Sha256::of(b"base").hex());
        assert_eq!(package("demo")["versionInfo"], "0.3.1");
        let nginx = package("docker.io/library/nginx");
        assert!(nginx.get("checksums").is_none(), "not pulled: no digest");
        // Every package but the image is contained by it.
        let contained = doc["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationshipType"] == "CONTAINS" && r["spdxElementId"] == "SPDXRef-Image")
            .count();
        assert_eq!(contained, doc["packages"].as_array().unwrap().len() - 1);
        let deps = provenance(&facts)["predicate"]["buildDefinition"]["resolvedDependencies"].clone();
        let deps = deps.as_array().unwrap();
        assert!(deps.iter().any(|d| d["uri"] == "docker://localhost:5000/base:1"));
        assert!(deps.iter().any(|d| d["name"] == "demo 0.3.1 (charts/demo)"));
    }

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(
            split_reference("registry.k8s.io/pause:3.7"),
            ("registry.k8s.io/pause", "3.7")
        );
        assert_eq!(
            split_reference("localhost:5000/base"),
            ("localhost:5000/base", "")
        );
        assert_eq!(
            split_reference(&format!("nginx@{}", Sha256::of(b"x"))),
            ("nginx", "")
        );
    }
}
