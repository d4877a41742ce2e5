//! Kubefiles (and Dockerfiles) of application images: the instructions
//! `sealos build` (buildah) and sealer accept, parsed with file:line:col
//! errors, and variables expanded at build time as buildah does
//! (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`, quotes removed,
//! `\$` kept literal; `$(VAR)` is left for sealos to expand at run time).

use std::collections::BTreeMap;

use thiserror::Error;

/// A bad Kubefile, located.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[error("{file}:{line}:{col}: {message}\n  help: {help}")]
pub struct KubefileError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

/// A command in JSON (exec) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// `["a", "b"]`.
    Exec(Vec<String>),
    /// `kubectl apply -f x` (continuations joined).
    Shell(String),
}

/// One instruction, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM scratch` or an image.
    From(String),
    /// `ARG name[=default]`.
    Arg(String, Option<String>),
    /// `ENV k=v ...` (already expanded).
    Env(Vec<(String, String)>),
    /// `LABEL k=v ...` (already expanded).
    Label(Vec<(String, String)>),
    /// `MAINTAINER text`.
    Maintainer(String),
    /// `COPY [--from=image | --checksum=sha256:HEX] src... dest`.
    Copy {
        /// Sources (paths with wildcards, or http(s) URLs).
        sources: Vec<String>,
        /// Destination in the image.
        dest: String,
        /// `--from=<image>`.
        from: Option<String>,
        /// `--checksum=sha256:<hex>`: the digest a URL source must have.
        checksum: Option<crate::digest::Sha256>,
    },
    /// `RUN` (build time).
    Run(CommandForm),
    /// `CMD`.
    Cmd(CommandForm),
    /// `ENTRYPOINT`.
    Entrypoint(CommandForm),
}

/// A parsed Kubefile: instructions in order with their line numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubefile {
    /// `(line, instruction)`.
    pub instructions: Vec<(usize, Instruction)>,
}

/// Largest Kubefile read.
pub const MAX_BYTES: usize = 1 << 20;

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn error(
        &self,
        line: usize,
        col: usize,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> KubefileError {
        KubefileError {
            file: self.file.to_string(),
            line,
            col,
            message: message.into(),
            help: help.into(),
        }
    }
}

/// Logical lines: continuations joined, comments and blank lines dropped;
/// each with the line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.starts_with('#') {
            continue;
        }
        if current.is_none() && trimmed.is_empty() {
            continue;
        }
        let (continued, body) = match line.trim_end().strip_suffix('\\') {
            Some(body) => (true, body.to_string()),
            None => (false, line.to_string()),
        };
        match &mut current {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(body.trim_start());
            }
            None => current = Some((index + 1, body)),
        }
        if !continued && let Some(done) = current.take() {
            out.push(done);
        }
    }
    if let Some(done) = current {
        out.push(done);
    }
    out
}

/// Splits words on whitespace, honouring quotes and backslash escapes; the
/// quotes stay (they are removed by [`expand`]).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                word.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (_, '\\') => {
                word.push('\\');
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Most bytes the variable expansions of one Kubefile may produce in all:
/// `ENV A=$A$A` doubles per line, so without a total an 898-byte file
/// exhausts memory.
pub const MAX_EXPANDED: usize = 4 << 20;

/// The ARG and ENV values seen so far, and what is left of the expansion
/// budget of the whole file.
struct Vars {
    map: BTreeMap<String, String>,
    left: std::cell::Cell<usize>,
}

impl Vars {
    /// Expands `text`, charging what it produces to the file's budget.
    fn expand(&self, ctx: &Ctx<'_>, line: usize, text: &str) -> Result<String, KubefileError> {
        let mut left = self.left.get();
        let out = expand_within(text, &self.map, &mut left).map_err(|()| {
            ctx.error(
                line,
                1,
                format!("variables expand to more than {MAX_EXPANDED} bytes in all"),
                "variables that repeat themselves (`ENV A=$A$A`) grow without end; set each value once",
            )
        })?;
        self.left.set(left);
        Ok(out)
    }
}

/// Expands variables in `text` from `vars` and removes quotes, as buildah
/// does for ENV, LABEL, COPY, FROM and ARG values.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut unbounded = usize::MAX;
    expand_within(text, vars, &mut unbounded).unwrap_or_default()
}

/// [`expand`] producing at most `left` bytes (then `Err`), in time linear
/// in the input and output: the closing `}` of every `${` is looked up,
/// not searched for again from each `${`.
fn expand_within(text: &str, vars: &BTreeMap<String, String>, left: &mut usize) -> Result<String, ()> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let chars: Vec<char> = text.chars().collect();
    // next_close[i]: index of the first `}` at or after i.
    let mut next_close = vec![usize::MAX; chars.len() + 1];
    for i in (0..chars.len()).rev() {
        next_close[i] = if chars[i] == '}' { i } else { next_close[i + 1] };
    }
    let mut i = 0;
    while i < chars.len() {
        if out.len() > *left {
            return Err(());
        }
        let c = chars[i];
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => out.push(c),
            (_, '\\') if i + 1 < chars.len() => {
                let next = chars[i + 1];
                // `\$` and `\"` are literal; other escapes keep the backslash
                // only inside double quotes for non-special characters.
                if matches!(next, '$' | '"' | '\\' | '\'') || quote.is_none() {
                    out.push(next);
                } else {
                    out.push('\\');
                    out.push(next);
                }
                i += 1;
            }
            (_, '$') if i + 1 < chars.len() && chars[i + 1] == '{' => {
                let close = next_close[i + 2];
                if close == usize::MAX {
                    out.push('$');
                    i += 1;
                    continue;
                }
                let inner: String = chars[i + 2..close].iter().collect();
                let (name, op) = match inner.find(":-").or_else(|| inner.find(":+")) {
                    Some(at) => (&inner[..at], Some((&inner[at..at + 2], &inner[at + 2..]))),
                    None => (inner.as_str(), None),
                };
                let value = vars.get(name).filter(|v| !v.is_empty());
                match op {
                    None => out.push_str(vars.get(name).map_or("", String::as_str)),
                    Some((":-", default)) => match value {
                        Some(v) => out.push_str(v),
                        None => out.push_str(&expand_within(default, vars, left)?),
                    },
                    Some((_, alt)) => {
                        if value.is_some() {
                            out.push_str(&expand_within(alt, vars, left)?);
                        }
                    }
                }
                i = close;
            }
            (_, '$')
                if i + 1 < chars.len() && (chars[i + 1].is_ascii_alphabetic() || chars[i + 1] == '_') =>
            {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                    end += 1;
                }
                let name: String = chars[start..end].iter().collect();
                out.push_str(vars.get(&name).map_or("", String::as_str));
                i = end - 1;
            }
            (_, c) => out.push(c),
        }
        i += 1;
    }
    if out.len() > *left {
        return Err(());
    }
    *left -= out.len();
    Ok(out)
}

/// `k=v` pairs (or the legacy `k v...` form when `legacy` allows it).
fn pairs(
    ctx: &Ctx<'_>,
    line: usize,
    keyword: &str,
    rest: &str,
    legacy: bool,
    vars: &Vars,
) -> Result<Vec<(String, String)>, KubefileError> {
    let items = words(rest);
    if items.is_empty() {
        return Err(ctx.error(
            line,
            1,
            format!("{keyword} needs at least one key=value"),
            format!("write `{keyword} key=value`"),
        ));
    }
    if legacy && !items[0].contains('=') {
        // `ENV key value with spaces`.
        let value = rest.trim_start()[items[0].len()..].trim();
        return Ok(vec![(items[0].clone(), vars.expand(ctx, line, value)?)]);
    }
    items
        .iter()
        .map(|item| {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                ctx.error(
                    line,
                    1,
                    format!("{keyword}: `{item}` is not key=value"),
                    format!("write `{keyword} key=value`"),
                )
            })?;
            let key = vars.expand(ctx, line, key)?;
            if key.is_empty() {
                return Err(ctx.error(line, 1, format!("{keyword}: an empty key"), "name the key"));
            }
            Ok((key, vars.expand(ctx, line, value)?))
        })
        .collect()
}

fn command_form(ctx: &Ctx<'_>, line: usize, col: usize, rest: &str) -> Result<CommandForm, KubefileError> {
    let trimmed = rest.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str::<Vec<String>>(trimmed)
            .map(CommandForm::Exec)
            .map_err(|e| {
                ctx.error(
                    line,
                    col,
                    format!("not a JSON array of strings: {e}"),
                    "write [\"kubectl apply -f manifests/x.yaml\"] or the shell form",
                )
            });
    }
    if trimmed.is_empty() {
        return Err(ctx.error(line, col, "an empty command", "give the command"));
    }
    Ok(CommandForm::Shell(trimmed.to_string()))
}

/// `COPY [--from=image | --checksum=sha256:HEX] src... dest`, in shell or
/// JSON form, expanded with the variables seen so far.
fn copy(
    ctx: &Ctx<'_>,
    line: usize,
    args_col: usize,
    rest: &str,
    vars: &Vars,
) -> Result<Instruction, KubefileError> {
    let mut items = if rest.starts_with('[') {
        serde_json::from_str::<Vec<String>>(rest).map_err(|e| {
            ctx.error(
                line,
                args_col,
                format!("not a JSON array of strings: {e}"),
                "write COPY [\"src\", \"dest\"]",
            )
        })?
    } else {
        words(rest)
    };
    let mut from = None;
    let mut checksum = None;
    while items.first().is_some_and(|i| i.starts_with("--")) {
        let flag = items.remove(0);
        if let Some(image) = flag.strip_prefix("--from=") {
            from = Some(vars.expand(ctx, line, image)?);
        } else if let Some(digest) = flag.strip_prefix("--checksum=") {
            checksum = Some(digest.parse::<crate::digest::Sha256>().map_err(|e| {
                ctx.error(
                    line,
                    args_col,
                    e.to_string(),
                    "write `--checksum=sha256:<64 hex digits>`",
                )
            })?);
        } else {
            return Err(ctx.error(
                line,
                args_col,
                format!("COPY flag `{flag}` is not supported"),
                "use `--from=<image>`, `--checksum=sha256:<hex>` (one URL source) or no flag",
            ));
        }
    }
    if items.len() < 2 {
        return Err(ctx.error(
            line,
            args_col,
            "COPY needs a source and a destination",
            "write `COPY manifests manifests`",
        ));
    }
    let dest = vars.expand(ctx, line, &items.pop().unwrap_or_default())?;
    let sources: Vec<String> = items
        .iter()
        .map(|s| vars.expand(ctx, line, s))
        .collect::<Result<_, _>>()?;
    let one_url = from.is_none()
        && sources.len() == 1
        && (sources[0].starts_with("http://") || sources[0].starts_with("https://"));
    if checksum.is_some() && !one_url {
        return Err(ctx.error(
            line,
            args_col,
            "COPY --checksum applies to one URL source only",
            "give one http(s) URL, or drop --checksum",
        ));
    }
    Ok(Instruction::Copy {
        sources,
        dest,
        from,
        checksum,
    })
}

/// Parses a Kubefile; `build_args` override ARG defaults. ENV, LABEL, COPY
/// and FROM are expanded with the ARG and ENV values seen so far.
pub fn parse(
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<Kubefile, KubefileError> {
    let ctx = Ctx { file };
    if text.len() > MAX_BYTES {
        return Err(ctx.error(
            1,
            1,
            format!("{} bytes, more than {MAX_BYTES}", text.len()),
            "a Kubefile is a short text",
        ));
    }
    let mut vars = Vars {
        map: BTreeMap::new(),
        left: std::cell::Cell::new(MAX_EXPANDED),
    };
    let mut instructions = Vec::new();
    for (line, logical) in logical_lines(text) {
        let body = logical.trim_start();
        let col = logical.len() - body.len() + 1;
        let keyword_len = body.find(char::is_whitespace).unwrap_or(body.len());
        let keyword = body[..keyword_len].to_ascii_uppercase();
        let rest = body[keyword_len..].trim();
        let args_col = col + keyword_len + 1;
        let instruction = match keyword.as_str() {
            "FROM" => {
                let image = vars.expand(&ctx, line, rest.split_whitespace().next().unwrap_or(""))?;
                if image.is_empty() {
                    return Err(ctx.error(line, args_col, "FROM needs an image", "write `FROM scratch`"));
                }
                Instruction::From(image)
            }
            "ARG" => {
                let (name, default) = match rest.split_once('=') {
                    Some((name, value)) => (
                        name.trim().to_string(),
                        Some(vars.expand(&ctx, line, value.trim())?),
                    ),
                    None => (rest.to_string(), None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(ctx.error(
                        line,
                        args_col,
                        format!("`{name}` is not an argument name"),
                        "write `ARG Version=4.0.0`",
                    ));
                }
                let value = build_args.get(&name).cloned().or(default.clone());
                if let Some(value) = value {
                    vars.map.insert(name.clone(), value);
                }
                Instruction::Arg(name, default)
            }
            "ENV" => {
                let items = pairs(&ctx, line, "ENV", rest, true, &vars)?;
                for (k, v) in &items {
                    vars.map.insert(k.clone(), v.clone());
                }
                Instruction::Env(items)
            }
            "LABEL" => Instruction::Label(pairs(&ctx, line, "LABEL", rest, false, &vars)?),
            "MAINTAINER" => Instruction::Maintainer(rest.to_string()),
            "COPY" => copy(&ctx, line, args_col, rest, &vars)?,
            "RUN" => Instruction::Run(command_form(&ctx, line, args_col, rest)?),
            "CMD" => Instruction::Cmd(command_form(&ctx, line, args_col, rest)?),
            "ENTRYPOINT" => Instruction::Entrypoint(command_form(&ctx, line, args_col, rest)?),
            other => {
                return Err(ctx.error(
                    line,
                    col,
                    format!("unknown instruction `{}`", other.escape_default()),
                    "a Kubefile takes FROM, ARG, ENV, LABEL, MAINTAINER, COPY, RUN, CMD and ENTRYPOINT",
                ));
            }
        };
        if instructions.is_empty() && !matches!(instruction, Instruction::From(_) | Instruction::Arg(..)) {
            return Err(ctx.error(
                line,
                col,
                "the first instruction must be FROM",
                "start with `FROM scratch`",
            ));
        }
        instructions.push((line, instruction));
    }
    if !instructions
        .iter()
        .any(|(_, i)| matches!(i, Instruction::From(_)))
    {
        return Err(ctx.error(1, 1, "no FROM instruction", "start with `FROM scratch`"));
    }
    Ok(Kubefile { instructions })
}

/// The image config CMD of a Kubefile's CMD lines: one CMD as buildah
/// stores it (the JSON array, or `/bin/sh -c` and the text); several, as
/// sealer runs them: every command in order, each a whole shell command.
pub fn merged_cmd(cmds: &[&CommandForm]) -> Vec<String> {
    match cmds {
        [] => Vec::new(),
        [CommandForm::Exec(items)] => items.clone(),
        [CommandForm::Shell(text)] => vec!["/bin/sh".into(), "-c".into(), text.clone()],
        many => many
            .iter()
            .flat_map(|form| match form {
                CommandForm::Exec(items) => items.clone(),
                CommandForm::Shell(text) => vec![text.clone()],
            })
            .collect(),
    }
}

crate::error::fault!(bad_input: KubefileError);

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expansion_follows_buildah() {
        let v = vars(&[("NAME", "web"), ("EMPTY", "")]);
        assert_eq!(expand(r#"${HELM_OPTS:-"--set a=b"}"#, &v), "--set a=b");
        assert_eq!(expand("${NAME:-x}-$NAME-${NAME}", &v), "web-web-web");
        assert_eq!(expand("${EMPTY:-d} ${NAME:+set} ${MISSING:+no}", &v), "d set ");
        assert_eq!(expand(r"\$NAME '$NAME' $(NAME)", &v), "$NAME $NAME $(NAME)");
        assert_eq!(expand(r#""a b""#, &v), "a b");
    }

    #[test]
    fn sealer_kubefile_parses() {
        let text = "FROM kubernetes:v1.19.8\n# a comment\nARG Version=4.0.0\nRUN echo ${Version}\nCOPY mysql.tar images\nCOPY test/*.yaml manifests\nCOPY https://example.com/x.yaml manifests\nCMD kubectl apply -f manifests/recommended.yaml\nCMD helm install mytest charts/traefik\n";
        let parsed = parse("Kubefile", text, &BTreeMap::new()).unwrap();
        assert_eq!(parsed.instructions.len(), 8);
        assert_eq!(
            parsed.instructions[1],
            (3, Instruction::Arg("Version".into(), Some("4.0.0".into())))
        );
        let cmds: Vec<&CommandForm> = parsed
            .instructions
            .iter()
            .filter_map(|(_, i)| match i {
                Instruction::Cmd(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(
            merged_cmd(&cmds),
            [
                "kubectl apply -f manifests/recommended.yaml",
                "helm install mytest charts/traefik"
            ]
        );
        let overridden = parse(
            "Kubefile",
            "FROM scratch\nARG V=1\nENV X=${V}\n",
            &vars(&[("V", "2")]),
        )
        .unwrap();
        assert_eq!(
            overridden.instructions[2].1,
            Instruction::Env(vec![("X".into(), "2".into())])
        );
    }

    #[test]
    fn real_kubefile_forms() {
        let text = "FROM scratch\nMAINTAINER sealos\nENV DEFAULT_NAMESPACE ingress-nginx\nENV HELM_OPTS=${HELM_OPTS:-\"--set a=1\"} \\\n    NAME=${NAME:-\"x\"}\nLABEL sealos.io.type=\"patch\"\nCOPY . .\nCMD [\"helm upgrade -i $(NAME) charts/x $(HELM_OPTS)\"]\n";
        let parsed = parse("Kubefile", text, &BTreeMap::new()).unwrap();
        assert_eq!(
            parsed.instructions[2].1,
            Instruction::Env(vec![("DEFAULT_NAMESPACE".into(), "ingress-nginx".into())])
        );
        assert_eq!(
            parsed.instructions[3].1,
            Instruction::Env(vec![
                ("HELM_OPTS".into(), "--set a=1".into()),
                ("NAME".into(), "x".into())
            ])
        );
        assert_eq!(
            parsed.instructions[4].1,
            Instruction::Label(vec![("sealos.io.type".into(), "patch".into())])
        );
        assert_eq!(
            parsed.instructions[6].1,
            Instruction::Cmd(CommandForm::Exec(vec![
                "helm upgrade -i $(NAME) charts/x $(HELM_OPTS)".into()
            ]))
        );
    }

    #[test]
    fn copy_checksum_pins_one_url() {
        let hex = "ab".repeat(32);
        let text =
            format!("FROM scratch\nCOPY --checksum=sha256:{hex} https://example.com/x.yaml manifests/\n");
        let parsed = parse("Kubefile", &text, &BTreeMap::new()).unwrap();
        let Instruction::Copy { checksum, .. } = &parsed.instructions[1].1 else {
            panic!("a COPY")
        };
        assert_eq!(checksum.as_ref().map(|d| d.hex()), Some(hex.clone()));
        for bad in [
            "COPY --checksum=md5:00 https://example.com/x.yaml m/".to_string(),
            format!("COPY --checksum=sha256:{hex} local.yaml m/"),
            format!("COPY --checksum=sha256:{hex} https://a/x https://a/y m/"),
        ] {
            let error = parse("Kubefile", &format!("FROM scratch\n{bad}\n"), &BTreeMap::new()).unwrap_err();
            assert!(error.to_string().contains("Kubefile:2"), "{error}");
        }
    }

    #[test]
    fn errors_are_located() {
        let error = parse(
            "apps/x/Kubefile",
            "FROM scratch\n  WORKDIR /x\n",
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!((error.line, error.col), (2, 3));
        assert!(error.message.contains("unknown instruction `WORKDIR`"));
        let error = parse("K", "COPY a b\n", &BTreeMap::new()).unwrap_err();
        assert!(error.message.contains("first instruction must be FROM"));
        let error = parse("K", "FROM scratch\nCMD [\"unclosed\"\n", &BTreeMap::new()).unwrap_err();
        assert_eq!(error.line, 2);
        let error = parse("K", "FROM scratch\nCOPY onlyone\n", &BTreeMap::new()).unwrap_err();
        assert!(error.message.contains("source and a destination"));
    }
}
