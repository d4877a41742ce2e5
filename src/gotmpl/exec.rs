//! Executing a parse tree: dot, variables and their scopes, pipelines,
//! control structures and template calls, with Go's rules for missing keys.

use super::parse::{Arg, Cmd, Node, Pipe, Pos};
use super::{Missing, Options, TemplateError, Templates, Value, funcs};

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    set: &'a Templates,
    options: &'a Options,
    /// The template being executed (for error positions).
    name: String,
    /// The template the render started with (a file, in Helm): `tpl`
    /// parses its text under this name, as Helm does.
    file: String,
    out: String,
    vars: Vec<(String, Value)>,
    steps: u64,
    depth: usize,
    /// Output written by earlier renders that share this one's budget.
    earlier_output: usize,
}

type Result<T> = std::result::Result<T, TemplateError>;

/// Stack for one render: deep (bounded) template nesting must never
/// overflow the caller's thread.
const STACK: usize = 256 << 20;

/// Runs template `name` of `set` with `data` as dot (and `$`), on a thread
/// of its own with a stack sized for `options.max_depth`.
pub(super) fn render(
    set: &Templates,
    name: &str,
    data: &Value,
    options: &Options,
    usage: &mut super::Usage,
) -> Result<String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("gotmpl".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || render_here(set, name, data, options, usage))
            .map_err(|e| TemplateError {
                name: name.to_string(),
                line: 0,
                col: 0,
                message: format!("starting the renderer: {e}"),
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(TemplateError {
                    name: name.to_string(),
                    line: 0,
                    col: 0,
                    message: "the renderer stopped unexpectedly".into(),
                })
            })
    })
}

fn render_here(
    set: &Templates,
    name: &str,
    data: &Value,
    options: &Options,
    usage: &mut super::Usage,
) -> Result<String> {
    let body = set.named.get(name).ok_or_else(|| TemplateError {
        name: name.to_string(),
        line: 0,
        col: 0,
        message: format!("no template {name:?} defined"),
    })?;
    let mut state = State {
        set,
        options,
        name: name.to_string(),
        file: name.to_string(),
        out: String::new(),
        vars: vec![("$".to_string(), data.clone())],
        steps: usage.steps,
        depth: 0,
        earlier_output: usage.output,
    };
    let result = state.walk(data, body);
    usage.steps = state.steps;
    usage.output += state.out.len();
    result?;
    Ok(finished(state.out, options))
}

/// A whole render's (or `tpl`'s) text: in Helm's mode without `<no value>`.
fn finished(text: String, options: &Options) -> String {
    match options.missing {
        Missing::NoValue => text,
        Missing::Empty => text.replace("<no value>", ""),
    }
}

impl State<'_> {
    fn error(&self, pos: Pos, message: impl Into<String>) -> TemplateError {
        TemplateError {
            name: self.name.clone(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }

    fn step(&mut self, pos: Pos) -> Result<()> {
        self.steps += 1;
        if self.steps > self.options.max_steps {
            return Err(self.error(
                pos,
                format!(
                    "more than {} evaluation steps: stopped (an endless loop?)",
                    self.options.max_steps
                ),
            ));
        }
        Ok(())
    }

    fn write(&mut self, pos: Pos, text: &str) -> Result<()> {
        if self.earlier_output + self.out.len() + text.len() > self.options.max_output {
            return Err(self.error(
                pos,
                format!("output larger than {} bytes: stopped", self.options.max_output),
            ));
        }
        self.out.push_str(text);
        Ok(())
    }

    /// Nodes of one scope: variables declared inside end with it.
    fn walk(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow> {
        let mark = self.vars.len();
        let result = self.walk_nodes(dot, nodes);
        self.vars.truncate(mark);
        result
    }

    fn walk_nodes(&mut self, dot: &Value, nodes: &[Node]) -> Result<Flow> {
        for node in nodes {
            match node {
                Node::Text(text) => {
                    self.write(Pos { line: 0, col: 0 }, text)?;
                }
                Node::Action(pipe) => {
                    self.step(pipe.pos)?;
                    let value = self.pipe(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        let text = self.printed(&value);
                        self.write(pipe.pos, &text)?;
                    }
                }
                Node::If(branch) | Node::With(branch) => {
                    // Variables the pipeline declares live in both branches.
                    let mark = self.vars.len();
                    let value = self.pipe(dot, &branch.pipe)?;
                    let flow = match (value.truth(), node) {
                        (true, Node::With(_)) => self.walk(&value, &branch.body),
                        (true, _) => self.walk(dot, &branch.body),
                        (false, _) => self.walk(dot, &branch.otherwise),
                    };
                    self.vars.truncate(mark);
                    match flow? {
                        Flow::Normal => {}
                        other => return Ok(other),
                    }
                }
                Node::Range(branch) => match self.range(dot, branch)? {
                    Flow::Normal => {}
                    other => return Ok(other),
                },
                Node::Template { name, pipe, pos } => {
                    self.step(*pos)?;
                    let data = match pipe {
                        Some(pipe) => self.pipe(dot, pipe)?,
                        None => Value::Nil,
                    };
                    let text = self.call_template(*pos, name, &data)?;
                    self.write(*pos, &text)?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    /// How an action prints a value (`<no value>` for missing and nil).
    ///
    /// Helm's mode prints `<no value>` too and removes it from a whole
    /// render and from `tpl`'s output, as Helm does: an `include` keeps it,
    /// so `include ... | sha256sum` hashes what Helm hashes.
    fn printed(&self, value: &Value) -> String {
        match value {
            Value::Missing | Value::Nil => "<no value>".to_string(),
            other => other.print(),
        }
    }

    /// Renders a named template with `data` into a string, in a fresh
    /// variable scope whose `$` is `data`. A nil `data` is no value there,
    /// as in Go: fields of it are empty, not errors.
    fn call_template(&mut self, pos: Pos, name: &str, data: &Value) -> Result<String> {
        let data = match data {
            Value::Nil => &Value::Missing,
            other => other,
        };
        let Some(body) = self.set.named.get(name).cloned() else {
            return Err(self.error(pos, format!("no such template {name:?}")));
        };
        if self.depth >= self.options.max_depth {
            return Err(self.error(
                pos,
                format!(
                    "exceeded max template depth ({}) calling {name:?}",
                    self.options.max_depth
                ),
            ));
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec![("$".to_string(), data.clone())]);
        let saved_out = std::mem::take(&mut self.out);
        let saved_name = std::mem::replace(&mut self.name, name.to_string());
        self.depth += 1;
        let result = self.walk(data, &body);
        self.depth -= 1;
        self.name = saved_name;
        self.vars = saved_vars;
        let text = std::mem::replace(&mut self.out, saved_out);
        result?;
        Ok(text)
    }

    fn range(&mut self, dot: &Value, branch: &super::parse::Branch) -> Result<Flow> {
        let pipe = &branch.pipe;
        let value = self.commands(dot, pipe)?;
        let items: Vec<(Value, Value)> = match value {
            Value::List(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Map(map) => map
                .entries()
                .into_iter()
                .map(|(k, v)| (Value::Str(k), v))
                .collect(),
            Value::Int(n) => (0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Missing | Value::Nil => Vec::new(),
            other => return Err(self.error(pipe.pos, format!("range can't iterate over {}", other.print()))),
        };
        if items.is_empty() {
            return self.walk(dot, &branch.otherwise);
        }
        for (key, item) in items {
            self.step(pipe.pos)?;
            let mark = self.vars.len();
            match pipe.decl.as_slice() {
                [] => {}
                [only] => self.vars.push((only.clone(), item.clone())),
                [first, second, ..] => {
                    self.vars.push((first.clone(), key));
                    self.vars.push((second.clone(), item.clone()));
                }
            }
            let flow = self.walk(&item, &branch.body);
            self.vars.truncate(mark);
            match flow? {
                Flow::Break => break,
                Flow::Normal | Flow::Continue => {}
            }
        }
        Ok(Flow::Normal)
    }

    /// A pipeline's value, declaring or assigning its variables. As in
    /// Go, a nil the pipeline ends with is no value: `(.a).b` and `$x.b`
    /// after `$x := .a` are empty when `.a` is nil, where `.a.b` fails.
    fn pipe(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let value = match self.commands(dot, pipe)? {
            Value::Nil => Value::Missing,
            other => other,
        };
        for name in &pipe.decl {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => return Err(self.error(pipe.pos, format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn commands(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or(Value::Missing))
    }

    fn command(&mut self, dot: &Value, cmd: &Cmd, piped: Option<Value>) -> Result<Value> {
        self.step(cmd.pos)?;
        if let Some(value) = self.method(dot, cmd, &piped)? {
            return Ok(value);
        }
        match &cmd.args[0] {
            Arg::Ident(name) => self.call(dot, cmd.pos, name, &cmd.args[1..], piped),
            first => {
                if cmd.args.len() > 1 || piped.is_some() {
                    return Err(self.error(
                        cmd.pos,
                        format!("can't give argument to non-function {}", describe(first)),
                    ));
                }
                self.arg(dot, cmd.pos, first)
            }
        }
    }

    /// A method call on a receiver map (`.Files.Get "x"`,
    /// `.Capabilities.APIVersions.Has "apps/v1"`), if the command is one.
    fn method(&mut self, dot: &Value, cmd: &Cmd, piped: &Option<Value>) -> Result<Option<Value>> {
        let (base, chain) = match &cmd.args[0] {
            Arg::Field(chain) if !chain.is_empty() => (dot.clone(), chain.as_slice()),
            Arg::Var(name, chain) if !chain.is_empty() => {
                let value = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone());
                match value {
                    Some(value) => (value, chain.as_slice()),
                    None => return Ok(None),
                }
            }
            Arg::Sub(pipe, chain)
                if super::funcs::METHODS.contains(&chain.last().map_or("", String::as_str)) =>
            {
                let mark = self.vars.len();
                let value = self.pipe(dot, pipe);
                self.vars.truncate(mark);
                (value?, chain.as_slice())
            }
            _ => return Ok(None),
        };
        let (name, parents) = chain.split_last().expect("non-empty chain");
        let receiver = match self.fields(cmd.pos, base, parents) {
            Ok(Value::Map(map)) if map.contains_key(super::RECEIVER) => map,
            _ => return Ok(None),
        };
        let mut args = Vec::new();
        for arg in &cmd.args[1..] {
            args.push(self.arg(dot, cmd.pos, arg)?);
        }
        if let Some(value) = piped {
            args.push(value.clone());
        }
        super::funcs::method(&receiver, name, &args)
            .map(Some)
            .map_err(|error| self.error(cmd.pos, error.to_string()))
    }

    fn arg(&mut self, dot: &Value, pos: Pos, arg: &Arg) -> Result<Value> {
        Ok(match arg {
            Arg::Field(chain) => self.fields(pos, dot.clone(), chain)?,
            Arg::Var(name, chain) => {
                let value = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| self.error(pos, format!("undefined variable: {name}")))?;
                self.fields(pos, value, chain)?
            }
            Arg::Sub(pipe, chain) => {
                let mark = self.vars.len();
                let value = self.pipe(dot, pipe);
                self.vars.truncate(mark);
                self.fields(pos, value?, chain)?
            }
            Arg::Ident(name) => self.call(dot, pos, name, &[], None)?,
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Nil => Value::Nil,
        })
    }

    /// Follows `.a.b` from `value` with Go's rules: a missing key gives no
    /// value (Helm's mode: nil), and a field of nil is an error.
    fn fields(&self, pos: Pos, mut value: Value, chain: &[String]) -> Result<Value> {
        for name in chain {
            value = match value {
                Value::Map(map) => match map.get(name) {
                    Some(found) => found,
                    None => match self.options.missing {
                        Missing::NoValue => Value::Missing,
                        Missing::Empty => Value::Nil,
                    },
                },
                Value::Missing => Value::Missing,
                Value::Nil => {
                    return Err(self.error(pos, format!("nil pointer evaluating interface {{}}.{name}")));
                }
                other => {
                    return Err(self.error(
                        pos,
                        format!("can't evaluate field {name} in type {}", other.kind()),
                    ));
                }
            };
        }
        Ok(value)
    }

    fn call(
        &mut self,
        dot: &Value,
        pos: Pos,
        name: &str,
        args: &[Arg],
        piped: Option<Value>,
    ) -> Result<Value> {
        // Short-circuit forms evaluate their arguments lazily.
        if name == "and" || name == "or" {
            let mut last = Value::Missing;
            let total = args.len() + usize::from(piped.is_some());
            if total == 0 {
                return Err(self.error(
                    pos,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            for arg in args {
                last = self.arg(dot, pos, arg)?;
                if (name == "and") != last.truth() {
                    return Ok(last);
                }
            }
            if let Some(value) = piped {
                last = value;
            }
            return Ok(last);
        }
        let mut values = Vec::with_capacity(args.len() + 1);
        for arg in args {
            values.push(self.arg(dot, pos, arg)?);
        }
        if let Some(value) = piped {
            values.push(value);
        }
        match name {
            "include" => {
                let (template, data) = match values.as_slice() {
                    [Value::Str(t), data] => (t.clone(), data.clone()),
                    _ => return Err(self.error(pos, "include takes a template name and a value")),
                };
                let text = self.call_template(pos, &template, &data)?;
                Ok(Value::Str(text))
            }
            "tpl" => {
                let (text, data) = match values.as_slice() {
                    [Value::Str(t), data] => (t.clone(), data.clone()),
                    _ => return Err(self.error(pos, "tpl takes a template text and a value")),
                };
                if self.depth >= self.options.max_depth {
                    return Err(self.error(pos, "exceeded max template depth in tpl"));
                }
                let mut set = self.set.clone();
                set.add(&self.file, &text)
                    .map_err(|e| self.error(pos, format!("error calling tpl: {e}")))?;
                let options = Options {
                    max_steps: self.options.max_steps.saturating_sub(self.steps),
                    ..self.options.clone()
                };
                let mut state = State {
                    set: &set,
                    options: &options,
                    name: self.file.clone(),
                    file: self.file.clone(),
                    out: String::new(),
                    vars: vec![("$".to_string(), data.clone())],
                    steps: 0,
                    depth: self.depth + 1,
                    earlier_output: self.earlier_output + self.out.len(),
                };
                let body = set.named.get(&self.file).cloned().unwrap_or_default();
                let body: &[Node] = &body;
                state
                    .walk(&data, body)
                    .map_err(|e| self.error(pos, format!("error calling tpl: {e}")))?;
                self.steps += state.steps;
                Ok(Value::Str(finished(state.out, self.options)))
            }
            // Maps are shared (see `Value`): `set $d "k" v` changes `$d`
            // for every holder without writing anything back.
            _ => funcs::call(name, &values).map_err(|error| self.error(pos, error.to_string())),
        }
    }
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Field(chain) if chain.is_empty() => ".".into(),
        Arg::Field(chain) => format!(".{}", chain.join(".")),
        Arg::Var(name, chain) => std::iter::once(name.clone())
            .chain(chain.iter().cloned())
            .collect::<Vec<_>>()
            .join("."),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Sub(..) => "(...)".into(),
        Arg::Ident(name) => name.clone(),
    }
}
