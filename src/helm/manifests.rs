//! The rendered templates as `helm template` prints them: each template's
//! output split into YAML documents, empty ones dropped, `NOTES.txt` left
//! out, documents ordered by Helm's install order of kinds (then by
//! template path), each printed after `---` and a `# Source:` line.

use std::collections::BTreeMap;

/// One rendered YAML document and the template it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The template's path (`chart/templates/x.yaml`).
    pub source: String,
    /// The document's text, without separators.
    pub text: String,
}

/// Helm's `InstallOrder` of kinds (unknown kinds go last).
const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn kind_rank(text: &str) -> usize {
    let kind = text
        .lines()
        .find_map(|line| line.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches(|c| c == '"' || c == '\''))
        .unwrap_or("");
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// Splits one template's output on `---` lines (Helm's `SplitManifests`).
fn split(text: &str) -> Vec<String> {
    let mut documents = Vec::new();
    let mut current = String::new();
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            documents.push(std::mem::take(&mut current));
            continue;
        }
        current.push_str(line);
    }
    documents.push(current);
    documents
        .into_iter()
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect()
}

/// The documents of rendered templates in `helm template`'s order.
pub fn documents(rendered: &BTreeMap<String, String>) -> Vec<Document> {
    let mut documents: Vec<Document> = rendered
        .iter()
        .filter(|(path, _)| !path.ends_with("NOTES.txt"))
        .flat_map(|(source, text)| {
            split(text).into_iter().map(move |text| Document {
                source: source.clone(),
                text,
            })
        })
        .collect();
    documents.sort_by_key(|d| kind_rank(&d.text));
    documents
}

/// The text `helm template` prints for these documents.
pub fn template_output(documents: &[Document]) -> String {
    let mut out = String::new();
    for document in documents {
        out.push_str("---\n# Source: ");
        out.push_str(&document.source);
        out.push('\n');
        out.push_str(&document.text);
        out.push('\n');
    }
    out
}
