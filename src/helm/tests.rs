use super::*;
use crate::gotmpl::from_yaml;

fn chart(files: &[(&str, &str)]) -> Chart {
    Chart::from_memory(
        files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    )
    .unwrap()
}

#[test]
fn values_flow_into_subcharts_and_conditions_switch_them() {
    let parent = chart(&[
        (
            "Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: cache\n  condition: cache.enabled\n- name: db\n  condition: db.enabled\n",
        ),
        (
            "values.yaml",
            "global:\n  registry: example.com\nimage: nginx\ncache:\n  enabled: true\n  tag: \"7\"\ndb:\n  enabled: false\n",
        ),
        (
            "templates/_helpers.tpl",
            "{{- define \"web.image\" -}}{{ .Values.global.registry }}/{{ .Values.image }}{{- end }}",
        ),
        (
            "templates/deploy.yaml",
            "image: {{ include \"web.image\" . }}\nname: {{ .Release.Name }}-{{ .Chart.Name }}\n",
        ),
        (
            "charts/cache/Chart.yaml",
            "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
        ),
        ("charts/cache/values.yaml", "tag: \"6\"\nrepo: redis\n"),
        (
            "charts/cache/templates/sts.yaml",
            "image: {{ .Values.global.registry }}/{{ .Values.repo }}:{{ .Values.tag }}\n",
        ),
        (
            "charts/db/Chart.yaml",
            "apiVersion: v2\nname: db\nversion: 0.1.0\n",
        ),
        ("charts/db/templates/db.yaml", "image: postgres\n"),
    ]);
    let out = render(&parent, None).unwrap();
    assert_eq!(
        out["web/templates/deploy.yaml"],
        "image: example.com/nginx\nname: dryrun-web\n"
    );
    assert_eq!(
        out["web/charts/cache/templates/sts.yaml"],
        "image: example.com/redis:7\n"
    );
    assert!(!out.contains_key("web/charts/db/templates/db.yaml"));
    assert!(!out.keys().any(|k| k.contains("_helpers")));
    let over = from_yaml("image: httpd\ndb:\n  enabled: true\n", true).unwrap();
    let out = render(&parent, Some(&over)).unwrap();
    assert_eq!(
        out["web/templates/deploy.yaml"],
        "image: example.com/httpd\nname: dryrun-web\n"
    );
    assert!(out.contains_key("web/charts/db/templates/db.yaml"));
}

#[test]
fn crafted_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, entries: &[(&str, &[u8])]| {
        let path = dir.path().join(name);
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        ));
        for (member, bytes) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            // set_path refuses `..`; write the raw name as an attacker would.
            header.as_gnu_mut().unwrap().name[..member.len()].copy_from_slice(member.as_bytes());
            header.set_cksum();
            tar.append(&header, *bytes).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
        path
    };
    let climbing = write(
        "climb.tgz",
        &[("c/Chart.yaml", b"name: c\n"), ("c/../../evil.yaml", b"x")],
    );
    let error = Chart::load(&climbing).unwrap_err().to_string();
    assert!(error.contains("leaves the chart"), "{error}");
    let no_chart = write("empty.tgz", &[("c/values.yaml", b"a: 1\n")]);
    assert!(
        Chart::load(&no_chart)
            .unwrap_err()
            .to_string()
            .contains("no Chart.yaml")
    );
    let garbage = dir.path().join("garbage.tgz");
    std::fs::write(&garbage, b"not gzip at all").unwrap();
    assert!(Chart::load(&garbage).is_err());
}

#[test]
fn files_and_capabilities() {
    let c = chart(&[
        ("Chart.yaml", "name: x\nversion: 1.0.0\n"),
        ("files/a.conf", "k=v\n"),
        (
            "templates/cm.yaml",
            "{{ .Files.Get \"files/a.conf\" }}{{ if .Capabilities.APIVersions.Has \"apps/v1\" }}apps{{ end }} {{ .Capabilities.KubeVersion.Version }}\n{{ (.Files.Glob \"files/*\").AsConfig }}",
        ),
    ]);
    let out = render(&c, None).unwrap();
    assert_eq!(out["x/templates/cm.yaml"], "k=v\napps v1.36.0\na.conf: |\n  k=v");
}

#[test]
fn budgets_are_totals_over_every_template_of_a_chart() {
    let c = chart(&[
        ("Chart.yaml", "name: x\nversion: 1.0.0\n"),
        ("templates/a.yaml", "{{ range until 400 }}a{{ end }}"),
        ("templates/b.yaml", "{{ range until 400 }}b{{ end }}"),
    ]);
    let roomy = Options {
        max_steps: 2000,
        ..options()
    };
    assert!(render_within(&c, None, &roomy).is_ok());
    // Each template alone fits in 700 steps (and 500 bytes); both do not.
    let tight = Options {
        max_steps: 700,
        ..options()
    };
    let error = render_within(&c, None, &tight).unwrap_err().to_string();
    assert!(error.contains("evaluation steps"), "{error}");
    let small = Options {
        max_output: 500,
        ..options()
    };
    let error = render_within(&c, None, &small).unwrap_err().to_string();
    assert!(error.contains("output larger"), "{error}");
}

#[test]
fn one_values_map_is_shared_by_all_templates_in_helms_order() {
    let c = chart(&[
        ("Chart.yaml", "name: x\nversion: 1.0.0\n"),
        ("values.yaml", "mode: unset\n"),
        ("templates/a.yaml", "a sees {{ .Values.mode }}"),
        (
            "templates/z.yaml",
            "{{ $_ := set .Values \"mode\" \"set-by-z\" }}z",
        ),
        (
            "templates/sub/m.yaml",
            "{{ $_ := set $.Values \"deep\" \"first\" }}m sees {{ .Values.mode }}",
        ),
    ]);
    let out = render(&c, None).unwrap();
    // Deeper paths first, then reverse lexical order: m, z, a.
    assert_eq!(out["x/templates/sub/m.yaml"], "m sees unset");
    assert_eq!(out["x/templates/a.yaml"], "a sees set-by-z");
}
