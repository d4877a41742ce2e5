//! kubeadm's configuration types per API version, for a strict check like
//! kubeadm's own: a document may carry only the fields its `apiVersion`
//! defines (kubeadm rejects the rest). Facts from kubeadm's v1beta1..v1beta4
//! types (`cmd/kubeadm/app/apis/kubeadm/v1beta*/types.go`); the component
//! configs are checked at their top level.

use serde_yaml::Value;

/// What a field holds.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A scalar, or anything kubeadm does not look into further here.
    Any,
    /// A struct of this type.
    Struct(&'static str),
    /// A list of structs of this type.
    List(&'static str),
    /// `extraArgs`: a map up to v1beta3, a list of `{name, value}` in v1beta4.
    Args,
}

/// The API versions in order.
const APIS: [&str; 4] = ["v1beta1", "v1beta2", "v1beta3", "v1beta4"];

/// The Kubernetes minors whose kubeadm reads each API version: v1beta1 until
/// 1.21, v1beta2 1.15-1.26, v1beta3 1.22-1.36 (kubeadm 1.37 removed it;
/// issue 23's facts), v1beta4 from 1.31.
const READ_BY: [(&str, u64, u64); 4] = [
    ("v1beta1", 13, 21),
    ("v1beta2", 15, 26),
    ("v1beta3", 22, 36),
    ("v1beta4", 31, u64::MAX),
];

/// Why kubeadm of `kube_minor` cannot read `api`, if it cannot.
fn unreadable(api: &str, kube_minor: u64) -> Option<String> {
    let (_, first, last) = READ_BY.iter().find(|(name, _, _)| *name == api)?;
    if kube_minor < *first {
        Some(format!(
            "kubeadm 1.{kube_minor} predates kubeadm.k8s.io/{api} (from 1.{first})"
        ))
    } else if kube_minor > *last {
        Some(format!(
            "kubeadm 1.{kube_minor} no longer reads kubeadm.k8s.io/{api} (1.{last} was the last)"
        ))
    } else {
        None
    }
}

fn at_least(api: &str, since: &str) -> bool {
    let rank = |v: &str| APIS.iter().position(|a| *a == v).unwrap_or(0);
    rank(api) >= rank(since)
}

/// The fields of `ty` in kubeadm API `api` as kubeadm 1.`minor` reads it:
/// v1beta4 gained `etcd.external.httpEndpoints` in 1.35 (the v1beta4
/// reference's change list, kubernetes.io/docs/reference/config-api/
/// kubeadm-config.v1beta4; its 1.36 and 1.37 entries were not in the stored
/// copies).
fn fields(api: &str, ty: &str, minor: u64) -> Option<Vec<(&'static str, Field)>> {
    use Field::{Any, Args, List, Struct};
    let v3 = at_least(api, "v1beta3");
    let v4 = at_least(api, "v1beta4");
    let mut f: Vec<(&'static str, Field)> = match ty {
        "InitConfiguration" => vec![
            ("apiVersion", Any),
            ("kind", Any),
            ("bootstrapTokens", List("BootstrapToken")),
            ("nodeRegistration", Struct("NodeRegistrationOptions")),
            ("localAPIEndpoint", Struct("APIEndpoint")),
            ("certificateKey", Any),
        ],
        "ClusterConfiguration" => vec![
            ("apiVersion", Any),
            ("kind", Any),
            ("etcd", Struct("Etcd")),
            ("networking", Struct("Networking")),
            ("kubernetesVersion", Any),
            ("controlPlaneEndpoint", Any),
            ("apiServer", Struct("APIServer")),
            ("controllerManager", Struct("ControlPlaneComponent")),
            ("scheduler", Struct("ControlPlaneComponent")),
            ("dns", Struct("DNS")),
            ("certificatesDir", Any),
            ("imageRepository", Any),
            ("featureGates", Any),
            ("clusterName", Any),
        ],
        "JoinConfiguration" => vec![
            ("apiVersion", Any),
            ("kind", Any),
            ("nodeRegistration", Struct("NodeRegistrationOptions")),
            ("caCertPath", Any),
            ("discovery", Struct("Discovery")),
            ("controlPlane", Struct("JoinControlPlane")),
        ],
        "NodeRegistrationOptions" => vec![
            ("name", Any),
            ("criSocket", Any),
            ("taints", Any),
            ("kubeletExtraArgs", Args),
            ("ignorePreflightErrors", Any),
        ],
        "APIEndpoint" => vec![("advertiseAddress", Any), ("bindPort", Any)],
        "BootstrapToken" => vec![
            ("token", Any),
            ("description", Any),
            ("ttl", Any),
            ("expires", Any),
            ("usages", Any),
            ("groups", Any),
        ],
        "APIServer" => vec![
            ("extraArgs", Args),
            ("extraVolumes", List("HostPathMount")),
            ("certSANs", Any),
        ],
        "ControlPlaneComponent" => vec![("extraArgs", Args), ("extraVolumes", List("HostPathMount"))],
        "HostPathMount" => vec![
            ("name", Any),
            ("hostPath", Any),
            ("mountPath", Any),
            ("readOnly", Any),
            ("pathType", Any),
        ],
        "DNS" => vec![("imageRepository", Any), ("imageTag", Any)],
        "Etcd" => vec![
            ("local", Struct("LocalEtcd")),
            ("external", Struct("ExternalEtcd")),
        ],
        "LocalEtcd" => vec![
            ("imageRepository", Any),
            ("imageTag", Any),
            ("dataDir", Any),
            ("extraArgs", Args),
            ("serverCertSANs", Any),
            ("peerCertSANs", Any),
        ],
        "ExternalEtcd" => vec![
            ("endpoints", Any),
            ("caFile", Any),
            ("certFile", Any),
            ("keyFile", Any),
        ],
        "Networking" => vec![("serviceSubnet", Any), ("podSubnet", Any), ("dnsDomain", Any)],
        "Discovery" => vec![("bootstrapToken", Any), ("file", Any), ("tlsBootstrapToken", Any)],
        "JoinControlPlane" => vec![
            ("localAPIEndpoint", Struct("APIEndpoint")),
            ("certificateKey", Any),
        ],
        "Patches" => vec![("directory", Any)],
        "Timeouts" => vec![
            ("controlPlaneComponentHealthCheck", Any),
            ("kubeletHealthCheck", Any),
            ("kubernetesAPICall", Any),
            ("etcdAPICall", Any),
            ("tlsBootstrap", Any),
            ("discovery", Any),
            ("upgradeManifests", Any),
        ],
        "EnvVar" => vec![("name", Any), ("value", Any), ("valueFrom", Any)],
        _ => return None,
    };
    // Changes between versions.
    match ty {
        "InitConfiguration" | "JoinConfiguration" if v3 => {
            f.push(("skipPhases", Any));
            f.push(("patches", Struct("Patches")));
        }
        _ => {}
    }
    match ty {
        "InitConfiguration" | "JoinConfiguration" if v4 => {
            f.push(("dryRun", Any));
            f.push(("timeouts", Struct("Timeouts")));
        }
        "ClusterConfiguration" if !v3 => f.push(("useHyperKubeImage", Any)),
        "ClusterConfiguration" if v4 => {
            f.push(("encryptionAlgorithm", Any));
            f.push(("certificateValidityPeriod", Any));
            f.push(("caCertificateValidityPeriod", Any));
            f.push(("proxy", Any));
        }
        "NodeRegistrationOptions" if v3 => {
            f.push(("imagePullPolicy", Any));
            if v4 {
                f.push(("imagePullSerial", Any));
            }
        }
        "APIServer" if !v4 => f.push(("timeoutForControlPlane", Any)),
        "Discovery" if !v4 => f.push(("timeout", Any)),
        "DNS" if !v3 => f.push(("type", Any)),
        "DNS" if v4 => f.push(("disabled", Any)),
        "ExternalEtcd" if v4 && minor >= 35 => f.push(("httpEndpoints", Any)),
        _ => {}
    }
    if v4 && matches!(ty, "APIServer" | "ControlPlaneComponent" | "LocalEtcd") {
        f.push(("extraEnvs", List("EnvVar")));
    }
    Some(f)
}

/// Top-level fields of KubeletConfiguration (kubelet.config.k8s.io/v1beta1)
/// and the Kubernetes minor each appeared in.
const KUBELET_FIELDS: &[(&str, u64)] = &[
    ("apiVersion", 0),
    ("kind", 0),
    ("enableServer", 0),
    ("staticPodPath", 0),
    ("syncFrequency", 0),
    ("fileCheckFrequency", 0),
    ("httpCheckFrequency", 0),
    ("staticPodURL", 0),
    ("staticPodURLHeader", 0),
    ("address", 0),
    ("port", 0),
    ("readOnlyPort", 0),
    ("tlsCertFile", 0),
    ("tlsPrivateKeyFile", 0),
    ("tlsCipherSuites", 0),
    ("tlsMinVersion", 0),
    ("rotateCertificates", 0),
    ("serverTLSBootstrap", 0),
    ("authentication", 0),
    ("authorization", 0),
    ("registryPullQPS", 0),
    ("registryBurst", 0),
    ("eventRecordQPS", 0),
    ("eventBurst", 0),
    ("enableDebuggingHandlers", 0),
    ("enableContentionProfiling", 0),
    ("healthzPort", 0),
    ("healthzBindAddress", 0),
    ("oomScoreAdj", 0),
    ("clusterDomain", 0),
    ("clusterDNS", 0),
    ("streamingConnectionIdleTimeout", 0),
    ("nodeStatusUpdateFrequency", 0),
    ("nodeStatusReportFrequency", 0),
    ("nodeLeaseDurationSeconds", 0),
    ("imageMinimumGCAge", 0),
    ("imageMaximumGCAge", 29),
    ("imageGCHighThresholdPercent", 0),
    ("imageGCLowThresholdPercent", 0),
    ("volumeStatsAggPeriod", 0),
    ("kubeletCgroups", 0),
    ("systemCgroups", 0),
    ("cgroupRoot", 0),
    ("cgroupsPerQOS", 0),
    ("cgroupDriver", 0),
    ("cpuManagerPolicy", 0),
    ("cpuManagerPolicyOptions", 22),
    ("cpuManagerReconcilePeriod", 0),
    ("memoryManagerPolicy", 21),
    ("topologyManagerPolicy", 0),
    ("topologyManagerScope", 0),
    ("topologyManagerPolicyOptions", 26),
    ("qosReserved", 0),
    ("runtimeRequestTimeout", 0),
    ("hairpinMode", 0),
    ("maxPods", 0),
    ("podCIDR", 0),
    ("podPidsLimit", 0),
    ("resolvConf", 0),
    ("runOnce", 0),
    ("cpuCFSQuota", 0),
    ("cpuCFSQuotaPeriod", 0),
    ("nodeStatusMaxImages", 0),
    ("maxOpenFiles", 0),
    ("contentType", 0),
    ("kubeAPIQPS", 0),
    ("kubeAPIBurst", 0),
    ("serializeImagePulls", 0),
    ("maxParallelImagePulls", 27),
    ("evictionHard", 0),
    ("evictionSoft", 0),
    ("evictionSoftGracePeriod", 0),
    ("evictionPressureTransitionPeriod", 0),
    ("evictionMaxPodGracePeriod", 0),
    ("evictionMinimumReclaim", 0),
    ("podsPerCore", 0),
    ("enableControllerAttachDetach", 0),
    ("protectKernelDefaults", 0),
    ("makeIPTablesUtilChains", 0),
    ("iptablesMasqueradeBit", 0),
    ("iptablesDropBit", 0),
    ("featureGates", 0),
    ("failSwapOn", 0),
    ("memorySwap", 22),
    ("containerLogMaxSize", 0),
    ("containerLogMaxFiles", 0),
    ("containerLogMaxWorkers", 30),
    ("containerLogMonitorInterval", 30),
    ("configMapAndSecretChangeDetectionStrategy", 0),
    ("systemReserved", 0),
    ("kubeReserved", 0),
    ("reservedSystemCPUs", 0),
    ("showHiddenMetricsForVersion", 0),
    ("systemReservedCgroup", 0),
    ("kubeReservedCgroup", 0),
    ("enforceNodeAllocatable", 0),
    ("allowedUnsafeSysctls", 0),
    ("volumePluginDir", 0),
    ("providerID", 0),
    ("kernelMemcgNotification", 0),
    ("logging", 0),
    ("enableSystemLogHandler", 0),
    ("enableSystemLogQuery", 27),
    ("shutdownGracePeriod", 0),
    ("shutdownGracePeriodCriticalPods", 0),
    ("shutdownGracePeriodByPodPriority", 23),
    ("reservedMemory", 21),
    ("enableProfilingHandler", 0),
    ("enableDebugFlagsHandler", 0),
    ("seccompDefault", 22),
    ("memoryThrottlingFactor", 22),
    ("registerWithTaints", 0),
    ("registerNode", 0),
    ("tracing", 25),
    ("localStorageCapacityIsolation", 25),
    ("containerRuntimeEndpoint", 27),
    ("imageServiceEndpoint", 27),
    ("failCgroupV1", 31),
    ("crashLoopBackOff", 32),
    ("singleProcessOOMKill", 32),
    ("userNamespaces", 30),
    ("mergeDefaultEvictionSettings", 34),
];

/// Top-level fields of KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1).
const KUBE_PROXY_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "featureGates",
    "bindAddress",
    "healthzBindAddress",
    "metricsBindAddress",
    "bindAddressHardFail",
    "enableProfiling",
    "showHiddenMetricsForVersion",
    "clusterCIDR",
    "hostnameOverride",
    "clientConnection",
    "iptables",
    "ipvs",
    "nftables",
    "winkernel",
    "mode",
    "portRange",
    "conntrack",
    "configSyncPeriod",
    "nodePortAddresses",
    "detectLocalMode",
    "detectLocal",
    "logging",
    "oomScoreAdj",
    "udpIdleTimeout",
];

/// Checks every document of a kubeadm.yml; each problem names its field
/// path (`ClusterConfiguration.apiServer.timeoutForControlPlane`).
pub fn check(text: &str, api: &str, kube_minor: u64) -> Vec<String> {
    let mut problems = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match <Value as serde::Deserialize>::deserialize(document) {
            Ok(value) => value,
            Err(error) => {
                problems.push(format!("document {}: not YAML: {error}", index + 1));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        let Some(map) = value.as_mapping() else {
            problems.push(format!("document {}: not a mapping", index + 1));
            continue;
        };
        let get = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or("");
        let (group_version, kind) = (get("apiVersion"), get("kind"));
        match group_version.split_once('/') {
            Some(("kubeadm.k8s.io", version)) => {
                if version != api {
                    problems.push(format!(
                        "{kind}: apiVersion kubeadm.k8s.io/{version}, but this Kubernetes version takes {api}"
                    ));
                }
                if let Some(why) = unreadable(version, kube_minor) {
                    problems.push(format!("{kind}: {why}"));
                }
                if fields(version, kind, kube_minor).is_none()
                    || !matches!(
                        kind,
                        "InitConfiguration" | "ClusterConfiguration" | "JoinConfiguration"
                    )
                {
                    problems.push(format!("kind `{kind}` is not a kubeadm configuration kind"));
                    continue;
                }
                walk((version, kube_minor), kind, &value, kind, &mut problems);
            }
            Some(("kubelet.config.k8s.io", "v1beta1")) => {
                // From 1.35 kubelet asks the runtime for the cgroup driver
                // (CRI RuntimeConfig); containerd 1.7 does not answer, so
                // the configuration must name it.
                if kube_minor >= 35 && !map.contains_key("cgroupDriver") {
                    problems.push(format!(
                        "{kind}.cgroupDriver: kubelet 1.{kube_minor} needs it set for runtimes without CRI RuntimeConfig (containerd 1.7)"
                    ));
                }
                for key in map.keys().filter_map(Value::as_str) {
                    match KUBELET_FIELDS.iter().find(|(name, _)| *name == key) {
                        None => {
                            problems.push(format!("{kind}.{key}: KubeletConfiguration has no such field"))
                        }
                        Some((_, since)) if *since > kube_minor => problems.push(format!(
                            "{kind}.{key}: KubeletConfiguration has this field only from 1.{since}"
                        )),
                        Some(_) => {}
                    }
                }
            }
            Some(("kubeproxy.config.k8s.io", "v1alpha1")) => {
                for key in map.keys().filter_map(Value::as_str) {
                    if !KUBE_PROXY_FIELDS.contains(&key) {
                        problems.push(format!("{kind}.{key}: KubeProxyConfiguration has no such field"));
                    }
                }
            }
            _ => problems.push(format!(
                "document {}: unknown apiVersion `{group_version}`",
                index + 1
            )),
        }
    }
    problems
}

fn walk(at: (&str, u64), ty: &str, value: &Value, path: &str, problems: &mut Vec<String>) {
    let api = at.0;
    let Some(known) = fields(api, ty, at.1) else {
        return;
    };
    let Some(map) = value.as_mapping() else {
        if !value.is_null() {
            problems.push(format!("{path}: must be a mapping ({ty})"));
        }
        return;
    };
    for (key, child) in map {
        let name = key.as_str().unwrap_or("");
        let here = format!("{path}.{name}");
        match known.iter().find(|(field, _)| *field == name) {
            None => problems.push(format!("{here}: kubeadm.k8s.io/{api} {ty} has no such field")),
            Some((_, Field::Struct(inner))) => walk(at, inner, child, &here, problems),
            Some((_, Field::List(inner))) => match child.as_sequence() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(at, inner, item, &format!("{here}[{i}]"), problems);
                    }
                }
                None if child.is_null() => {}
                None => problems.push(format!("{here}: must be a list")),
            },
            Some((_, Field::Args)) => {
                let list = at_least(api, "v1beta4");
                match (list, child) {
                    (true, Value::Sequence(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            walk(at, "EnvVar", item, &format!("{here}[{i}]"), problems);
                        }
                    }
                    (false, Value::Mapping(_)) | (_, Value::Null) => {}
                    (true, _) => problems.push(format!(
                        "{here}: kubeadm.k8s.io/{api} takes extraArgs as a list of name/value"
                    )),
                    (false, _) => {
                        problems.push(format!("{here}: kubeadm.k8s.io/{api} takes extraArgs as a map"))
                    }
                }
            }
            Some((_, Field::Any)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_api_version() {
        let v1beta3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  timeoutForControlPlane: 4m0s\n  extraArgs:\n    a: b\n";
        assert!(check(v1beta3, "v1beta3", 24).is_empty());
        let v1beta4 = v1beta3.replace("v1beta3", "v1beta4");
        let problems = check(&v1beta4, "v1beta4", 31);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("ClusterConfiguration.apiServer.timeoutForControlPlane")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("extraArgs as a list")),
            "{problems:?}"
        );
        let typo =
            "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\nnodeRegistration:\n  criSoket: x\n";
        assert_eq!(
            check(typo, "v1beta3", 24),
            [
                "InitConfiguration.nodeRegistration.criSoket: kubeadm.k8s.io/v1beta3 NodeRegistrationOptions has no such field"
            ]
        );
        let wrong_api = "apiVersion: kubeadm.k8s.io/v1beta2\nkind: InitConfiguration\n";
        assert!(check(wrong_api, "v1beta3", 24)[0].contains("takes v1beta3"));
        // kubeadm 1.37 reads v1beta4 only; 1.36 still reads v1beta3.
        let init = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n";
        assert!(check(init, "v1beta3", 36).is_empty());
        assert_eq!(
            check(init, "v1beta3", 37),
            ["InitConfiguration: kubeadm 1.37 no longer reads kubeadm.k8s.io/v1beta3 (1.36 was the last)"]
        );
        // etcd.external.httpEndpoints: v1beta4 from kubeadm 1.35.
        let external = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: [a]\n    httpEndpoints: [b]\n";
        assert!(check(external, "v1beta4", 35).is_empty());
        assert!(
            check(external, "v1beta4", 34)[0].contains("ClusterConfiguration.etcd.external.httpEndpoints")
        );
        let init4 = init.replace("v1beta3", "v1beta4");
        assert!(check(&init4, "v1beta4", 37).is_empty());
        assert!(check(&init4, "v1beta4", 30)[0].contains("predates"));
        let kubelet = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncontainerRuntimeEndpoint: x\n";
        assert!(check(kubelet, "v1beta3", 27).is_empty());
        assert!(check(kubelet, "v1beta4", 35)[0].contains("cgroupDriver"));
        let with_driver = format!("{kubelet}cgroupDriver: systemd\n");
        assert!(check(&with_driver, "v1beta4", 37).is_empty());
        assert!(check(kubelet, "v1beta3", 26)[0].contains("only from 1.27"));
    }
}
