//! Go's text/template with the sprig functions, in Rust: what sealos
//! renders `.tmpl` files with on the node, and what Helm renders charts
//! with. No crate implements Go's semantics closely enough (trimming,
//! `define`/`template`/`block`, variables and their scopes, `and`/`or`
//! short-circuit, Go's printing of numbers and maps, missing keys), so it is
//! written here and tested against Go's documented behaviour.
//!
//! Untrusted templates are bounded: output size, steps and nesting depth.

mod exec;
mod funcs;
mod lex;
mod parse;
mod semver;
mod value;
mod yaml;
mod yaml_scalar;

use std::collections::BTreeMap;

use thiserror::Error;

pub use funcs::{Arity, Func, FuncError, Problem, TABLE, glob_match, lookup as function};
pub use semver::{SemverError, semver_compare};
pub use value::{Dict, Value, format_float};
pub use yaml::{YamlError, from_yaml, to_yaml, to_yaml_pretty};

/// The key that marks a map as a receiver of methods (`.Files.Get`,
/// `.Capabilities.APIVersions.Has`): its value names the kind.
pub const RECEIVER: &str = "\u{0}receiver";

/// The key that makes a map print as its value (Go values with a
/// `String` method: `.Capabilities.KubeVersion` prints `v1.36.0`).
pub const PRINTS_AS: &str = "\u{0}prints";

/// A template that does not parse or does not execute: `name:line:col`.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("template: {name}:{line}:{col}: {message}")]
pub struct TemplateError {
    /// The template's name (usually its file).
    pub name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong, in Go's words where Go has them.
    pub message: String,
}

impl TemplateError {
    fn parse(name: &str, line: usize, col: usize, message: impl Into<String>) -> TemplateError {
        TemplateError {
            name: name.to_string(),
            line,
            col,
            message: message.into(),
        }
    }
}

/// How missing map keys print: Go's default `<no value>`, or nothing
/// (Helm's `missingkey=zero` and its removal of `<no value>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missing {
    /// `<no value>`.
    #[default]
    NoValue,
    /// The empty string.
    Empty,
}

/// Bounds and options of one render.
#[derive(Debug, Clone)]
pub struct Options {
    /// How missing keys print.
    pub missing: Missing,
    /// Largest output in bytes.
    pub max_output: usize,
    /// Most evaluation steps (nodes and commands), against endless loops.
    pub max_steps: u64,
    /// Deepest nesting of `template`, `include` and `tpl`.
    pub max_depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            missing: Missing::NoValue,
            max_output: 64 << 20,
            max_steps: 20_000_000,
            max_depth: 1000,
        }
    }
}

/// Work done by renders that share one budget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Evaluation steps taken.
    pub steps: u64,
    /// Bytes of output written.
    pub output: usize,
}

/// A set of named templates (files and their `define`s), parsed once.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    named: BTreeMap<String, std::sync::Arc<Vec<parse::Node>>>,
}

impl Templates {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `text` as the template `name` and adds it and its `define`s
    /// (a later `define` of the same name replaces an earlier one, as in
    /// Go). Unknown functions are parse errors, as in Go.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), TemplateError> {
        let tokens = lex::lex(name, text)?;
        let parsed = parse::parse(name, tokens)?;
        funcs::check_names(name, &parsed.root)?;
        for body in parsed.defines.values() {
            funcs::check_names(name, body)?;
        }
        self.named
            .insert(name.to_string(), std::sync::Arc::new(parsed.root));
        self.named.extend(
            parsed
                .defines
                .into_iter()
                .map(|(k, v)| (k, std::sync::Arc::new(v))),
        );
        Ok(())
    }

    /// Whether a template of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.named.contains_key(name)
    }

    /// Executes the template `name` with `data` as dot.
    pub fn render(&self, name: &str, data: &Value, options: &Options) -> Result<String, TemplateError> {
        exec::render(self, name, data, options, &mut Usage::default())
    }

    /// Executes `name` within a budget shared with earlier renders:
    /// `options`' steps and output are totals over every render that
    /// passes the same `usage`.
    pub fn render_counted(
        &self,
        name: &str,
        data: &Value,
        options: &Options,
        usage: &mut Usage,
    ) -> Result<String, TemplateError> {
        exec::render(self, name, data, options, usage)
    }
}

/// Parses and renders one template text.
pub fn render_text(name: &str, text: &str, data: &Value, options: &Options) -> Result<String, TemplateError> {
    let mut set = Templates::new();
    set.add(name, text)?;
    set.render(name, data, options)
}

// Templates and charts are input; a value they reject is the input's fault.
crate::error::fault!(bad_input: TemplateError, SemverError);

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        serde_json::json!({
            "name": "web",
            "replicas": 3,
            "ratio": 1.5,
            "tags": ["a", "b"],
            "env": { "B": "2", "A": "1" },
            "empty": "",
            "nothing": null,
            "registryDomain": "sealos.hub",
            "SEALOS_SYS_KUBE_VERSION": "v1.26.3",
        })
        .into()
    }

    fn run(text: &str) -> String {
        render_text("t", text, &data(), &Options::default()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn fails(text: &str) -> String {
        render_text("t", text, &data(), &Options::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn actions_fields_and_trimming() {
        assert_eq!(run("{{ .name }}-{{ .replicas }}-{{ .ratio }}"), "web-3-1.5");
        assert_eq!(run("a\n  {{- .name -}}\n  b"), "awebb");
        assert_eq!(
            run("{{ .missing }}|{{ .missing.deeper }}"),
            "<no value>|<no value>"
        );
        assert_eq!(run("{{ .tags }} {{ .env }}"), "[a b] map[A:1 B:2]");
        assert_eq!(
            run(r#"{{ "quoted" }} {{ `raw\n` }} {{ 'a' }}"#),
            r"quoted raw\n 97"
        );
    }

    #[test]
    fn control_structures_and_variables() {
        assert_eq!(
            run("{{ range $i, $t := .tags }}{{ $i }}={{ $t }};{{ end }}"),
            "0=a;1=b;"
        );
        assert_eq!(run("{{ range $k, $v := .env }}{{ $k }}{{ $v }}{{ end }}"), "A1B2");
        assert_eq!(run("{{ range .none }}x{{ else }}empty{{ end }}"), "empty");
        assert_eq!(
            run("{{ range .tags }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}"),
            "a"
        );
        assert_eq!(
            run("{{ if .empty }}1{{ else if .name }}2{{ else }}3{{ end }}"),
            "2"
        );
        assert_eq!(
            run("{{ with .env }}{{ .A }}{{ end }}{{ with .empty }}x{{ else }}y{{ end }}"),
            "1y"
        );
        assert_eq!(
            run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
            "2"
        );
        assert_eq!(run("{{ range .tags }}{{ $.name }}{{ end }}"), "webweb");
        // Operands are apart when a space parts them: `.a .b` is two.
        assert_eq!(run("{{ printf \"%s-%s\" .env.A .env.B }}"), "1-2");
        assert!(fails("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}").contains("undefined variable: $y"));
    }

    #[test]
    fn named_templates() {
        let text = r#"{{ define "greet" }}hi {{ . }}{{ end }}{{ template "greet" .name }}|{{ include "greet" "x" | upper }}|{{ block "b" . }}{{ .replicas }}{{ end }}"#;
        assert_eq!(run(text), "hi web|HI X|3");
        assert_eq!(run(r#"{{ tpl "{{ .name }}!" . }}"#), "web!");
        let looping = r#"{{ define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}"#;
        assert!(
            fails(looping).contains("max template depth"),
            "{}",
            fails(looping)
        );
    }

    #[test]
    fn functions_and_pipelines() {
        assert_eq!(
            run(r#"{{ .missing | default "d" }} {{ .name | quote }} {{ "a,b" | splitList "," | join "+" }}"#),
            r#"d "web" a+b"#
        );
        assert_eq!(
            run(r#"{{ printf "%s-%d-%05.1f-%v" .name 7 3.14159 .tags }}"#),
            "web-7-003.1-[a b]"
        );
        assert_eq!(
            run("{{ and 1 0 }} {{ or 0 \"\" \"x\" }} {{ not .empty }}"),
            "0 x true"
        );
        assert_eq!(run("{{ and false .missing.x }}"), "false");
        assert_eq!(
            run("{{ len .tags }} {{ index .env \"A\" }} {{ index .tags 1 }}"),
            "2 1 b"
        );
        assert_eq!(
            run(r#"{{ if semverCompare "<1.27" .SEALOS_SYS_KUBE_VERSION }}remote{{ end }}"#),
            "remote"
        );
        assert_eq!(run("{{ \"x\\ny\" | nindent 2 }}"), "\n  x\n  y");
        assert_eq!(
            run("{{ dict \"a\" 1 \"b\" (list 1 2) | toJson }}"),
            r#"{"a":1,"b":[1,2]}"#
        );
        assert_eq!(
            run("{{ add 1 2 3 }} {{ sub 5 7 }} {{ div 7 2 }} {{ trunc 2 .name }}"),
            "6 -2 3 we"
        );
        assert_eq!(run("{{ ternary \"y\" \"n\" (hasKey .env \"A\") }}"), "y");
    }

    #[test]
    fn errors_name_the_place() {
        assert_eq!(
            fails("line1\n{{ bogus .x }}"),
            "template: t:2:4: function \"bogus\" not defined"
        );
        assert!(fails("{{ if .x }}").contains("without {{end}}"));
        assert!(fails("{{ .nothing.field }}").contains("nil pointer evaluating interface {}.field"));
        assert!(fails("{{ .name.field }}").contains("can't evaluate field field in type string"));
        assert!(fails(r#"{{ semverCompare "<1.27" .missing }}"#).contains("invalid value; expected string"));
        assert!(fails("{{ eq .replicas 1.0 }}").contains("incompatible types"));
        assert!(fails(r#"{{ required "name is required" .missing }}"#).contains("name is required"));
        assert!(fails("{{ end }}").contains("unexpected {{end}}"));
        let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
        assert!(fails(&deep).contains("nested more than"));
        let deep = "{{ if 1 }}".repeat(5000);
        assert!(fails(&deep).contains("nested more than"));
    }

    #[test]
    fn work_is_bounded() {
        let options = Options {
            max_steps: 1000,
            ..Options::default()
        };
        let error = render_text("t", "{{ range until 100000 }}x{{ end }}", &data(), &options).unwrap_err();
        assert!(error.message.contains("evaluation steps"), "{error}");
        let options = Options {
            max_output: 10,
            ..Options::default()
        };
        let error = render_text("t", "{{ repeat 100 \"x\" }}", &data(), &options).unwrap_err();
        assert!(error.message.contains("output larger"), "{error}");
        // One call cannot ask for gigabytes of padding.
        let padded = run("{{ indent 4000000000 \"x\" | len }} {{ printf \"%999999999d\" 1 | len }}");
        assert_eq!(padded, "65537 65536");
    }

    #[test]
    fn helm_mode_prints_missing_as_empty_and_errors_on_nested_missing() {
        let options = Options {
            missing: Missing::Empty,
            ..Options::default()
        };
        assert_eq!(
            render_text("t", "[{{ .missing }}]", &data(), &options).unwrap(),
            "[]"
        );
        let error = render_text("t", "{{ .missing.x }}", &data(), &options).unwrap_err();
        assert!(error.message.contains("nil pointer"), "{error}");
    }
}
