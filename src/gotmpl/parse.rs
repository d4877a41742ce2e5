//! The parse tree of Go's text/template: text, actions, control
//! structures and named templates (`define`, `block`).

use std::collections::BTreeMap;

use super::TemplateError;
use super::lex::{Tok, Token};

/// Where a node starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template {
        name: String,
        pipe: Option<Pipe>,
        pos: Pos,
    },
    Break,
    Continue,
}

/// `if`, `range` and `with`: the pipeline, the body and the `else` part.
#[derive(Debug, Clone)]
pub(super) struct Branch {
    pub pipe: Pipe,
    pub body: Vec<Node>,
    pub otherwise: Vec<Node>,
}

/// `$x := cmd | cmd`.
#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub decl: Vec<String>,
    /// `=` (assign to existing variables) rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub(super) struct Cmd {
    pub args: Vec<Arg>,
    pub pos: Pos,
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    /// A function name.
    Ident(String),
    /// `.a.b` from dot (empty chain: dot itself).
    Field(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// `(pipe).a.b`.
    Sub(Box<Pipe>, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
}

/// A parsed template and the named templates it defines.
pub(super) struct Parsed {
    pub root: Vec<Node>,
    pub defines: BTreeMap<String, Vec<Node>>,
}

struct Parser<'a> {
    name: &'a str,
    tokens: Vec<Token>,
    at: usize,
    defines: BTreeMap<String, Vec<Node>>,
    /// Loop depth, for `break` and `continue`.
    loops: usize,
    /// Nesting of control structures and parentheses, bounded so hostile
    /// input cannot exhaust the stack.
    depth: usize,
}

/// Deepest nesting of `if`/`range`/`with`/`define` and parentheses.
const MAX_NESTING: usize = 200;

/// How a list of nodes ended.
enum Ending {
    Eof,
    Close,
    Else(Pos),
}

/// Parses a token stream into a tree.
pub(super) fn parse(name: &str, tokens: Vec<Token>) -> Result<Parsed, TemplateError> {
    let mut parser = Parser {
        name,
        tokens,
        at: 0,
        defines: BTreeMap::new(),
        loops: 0,
        depth: 0,
    };
    let (root, end) = parser.list(true)?;
    match end {
        Ending::Eof => Ok(Parsed {
            root,
            defines: parser.defines,
        }),
        Ending::Close => Err(parser.error_at(parser.last_pos(), "unexpected {{end}}")),
        Ending::Else(pos) => Err(parser.error_at(pos, "unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn error_at(&self, pos: Pos, message: impl Into<String>) -> TemplateError {
        TemplateError::parse(self.name, pos.line, pos.col, message)
    }

    fn last_pos(&self) -> Pos {
        let token = self.tokens.get(self.at.saturating_sub(1)).or(self.tokens.last());
        token.map_or(Pos { line: 1, col: 1 }, |t| Pos {
            line: t.line,
            col: t.col,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.at).map(|t| &t.kind)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.tokens.get(self.at + n).map(|t| &t.kind)
    }

    fn pos(&self) -> Pos {
        self.tokens.get(self.at).map_or_else(
            || self.last_pos(),
            |t| Pos {
                line: t.line,
                col: t.col,
            },
        )
    }

    fn next(&mut self) -> Option<Tok> {
        let token = self.tokens.get(self.at).map(|t| t.kind.clone());
        self.at += 1;
        token
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        let pos = self.pos();
        match self.next() {
            Some(Tok::Close) => Ok(()),
            other => Err(self.error_at(pos, format!("unexpected {} in {what}", describe(other.as_ref())))),
        }
    }

    /// Nodes up to `{{end}}`, `{{else}}` or the end of input.
    fn list(&mut self, top: bool) -> Result<(Vec<Node>, Ending), TemplateError> {
        self.depth += 1;
        let result = if self.depth > MAX_NESTING {
            Err(self.error_at(self.pos(), format!("nested more than {MAX_NESTING} levels deep")))
        } else {
            self.list_nodes(top)
        };
        self.depth -= 1;
        result
    }

    fn list_nodes(&mut self, top: bool) -> Result<(Vec<Node>, Ending), TemplateError> {
        let mut nodes = Vec::new();
        loop {
            let Some(token) = self.next() else {
                return Ok((nodes, Ending::Eof));
            };
            match token {
                Tok::Text(text) => nodes.push(Node::Text(text)),
                Tok::Open => {
                    let pos = self.pos();
                    match self.peek().cloned() {
                        Some(Tok::Ident(word)) => match word.as_str() {
                            "end" => {
                                self.at += 1;
                                self.expect_close("end")?;
                                return Ok((nodes, Ending::Close));
                            }
                            "else" => {
                                self.at += 1;
                                return Ok((nodes, Ending::Else(pos)));
                            }
                            "if" | "range" | "with" => {
                                self.at += 1;
                                nodes.push(self.branch(&word, pos)?);
                            }
                            "define" => {
                                self.at += 1;
                                if !top {
                                    return Err(
                                        self.error_at(pos, "{{define}} is only allowed at the top level")
                                    );
                                }
                                self.define(pos)?;
                            }
                            "block" => {
                                self.at += 1;
                                let (name, pipe) = self.template_args(pos, "block")?;
                                let (body, end) = self.list(false)?;
                                if !matches!(end, Ending::Close) {
                                    return Err(self.error_at(pos, "{{block}} without {{end}}"));
                                }
                                self.defines.insert(name.clone(), body);
                                nodes.push(Node::Template { name, pipe, pos });
                            }
                            "template" => {
                                self.at += 1;
                                let (name, pipe) = self.template_args(pos, "template")?;
                                nodes.push(Node::Template { name, pipe, pos });
                            }
                            "break" | "continue" => {
                                self.at += 1;
                                if self.loops == 0 {
                                    return Err(
                                        self.error_at(pos, format!("{{{{{word}}}}} outside {{{{range}}}}"))
                                    );
                                }
                                self.expect_close(&word)?;
                                nodes.push(if word == "break" {
                                    Node::Break
                                } else {
                                    Node::Continue
                                });
                            }
                            _ => nodes.push(Node::Action(self.pipe("command")?)),
                        },
                        _ => nodes.push(Node::Action(self.pipe("command")?)),
                    }
                }
                other => {
                    let pos = self.last_pos();
                    return Err(self.error_at(pos, format!("unexpected {}", describe(Some(&other)))));
                }
            }
        }
    }

    fn define(&mut self, pos: Pos) -> Result<(), TemplateError> {
        let name = match self.next() {
            Some(Tok::Str(name)) => name,
            other => {
                return Err(self.error_at(
                    pos,
                    format!("unexpected {} in define clause", describe(other.as_ref())),
                ));
            }
        };
        self.expect_close("define clause")?;
        let (body, end) = self.list(false)?;
        if !matches!(end, Ending::Close) {
            return Err(self.error_at(pos, format!("{{{{define {name:?}}}}} without {{{{end}}}}")));
        }
        self.defines.insert(name, body);
        Ok(())
    }

    fn template_args(&mut self, pos: Pos, what: &str) -> Result<(String, Option<Pipe>), TemplateError> {
        let name = match self.next() {
            Some(Tok::Str(name)) => name,
            other => {
                return Err(self.error_at(
                    pos,
                    format!("unexpected {} in {what} clause", describe(other.as_ref())),
                ));
            }
        };
        if self.peek() == Some(&Tok::Close) {
            self.at += 1;
            return Ok((name, None));
        }
        Ok((name, Some(self.pipe(what)?)))
    }

    /// `if`/`range`/`with` and their `else` chains.
    fn branch(&mut self, word: &str, pos: Pos) -> Result<Node, TemplateError> {
        let pipe = self.pipe(word)?;
        if word == "range" {
            self.loops += 1;
        }
        let body = self.list(false);
        if word == "range" {
            self.loops -= 1;
        }
        let (body, end) = body?;
        let otherwise = match end {
            Ending::Close => Vec::new(),
            Ending::Eof => {
                return Err(self.error_at(pos, format!("unexpected EOF: {{{{{word}}}}} without {{{{end}}}}")));
            }
            Ending::Else(else_pos) => {
                // `{{else if ...}}` / `{{else with ...}}` chain into one nested node.
                match self.peek().cloned() {
                    Some(Tok::Ident(next))
                        if (next == "if" && word == "if") || (next == "with" && word == "with") =>
                    {
                        self.at += 1;
                        vec![self.branch(&next, else_pos)?]
                    }
                    _ => {
                        self.expect_close("else")?;
                        let (otherwise, end) = self.list(false)?;
                        if !matches!(end, Ending::Close) {
                            return Err(self.error_at(
                                else_pos,
                                format!("{{{{else}}}} of {{{{{word}}}}} without {{{{end}}}}"),
                            ));
                        }
                        otherwise
                    }
                }
            }
        };
        let branch = Branch {
            pipe,
            body,
            otherwise,
        };
        Ok(match word {
            "if" => Node::If(branch),
            "range" => Node::Range(branch),
            _ => Node::With(branch),
        })
    }

    /// A pipeline up to `}}` (or `)` inside parentheses, left unconsumed).
    fn pipe(&mut self, context: &str) -> Result<Pipe, TemplateError> {
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        // `$x :=`, `$x =`, `$i, $v :=`.
        if let Some(Tok::Var(_)) = self.peek() {
            let mut names = Vec::new();
            let mut n = 0;
            loop {
                match (self.peek_at(n), self.peek_at(n + 1)) {
                    (Some(Tok::Var(name)), Some(Tok::Comma)) if names.is_empty() => {
                        names.push(name.clone());
                        n += 2;
                    }
                    (Some(Tok::Var(name)), Some(Tok::Declare | Tok::Assign)) => {
                        names.push(name.clone());
                        assign = self.peek_at(n + 1) == Some(&Tok::Assign);
                        self.at += n + 2;
                        decl = names;
                        break;
                    }
                    _ => break,
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd_pos = self.pos();
            let mut args = Vec::new();
            loop {
                match self.peek() {
                    None => return Err(self.error_at(cmd_pos, format!("unclosed action in {context}"))),
                    Some(Tok::Close | Tok::RParen | Tok::Pipe) => break,
                    Some(_) => args.push(self.operand(context)?),
                }
            }
            if args.is_empty() {
                return Err(self.error_at(cmd_pos, format!("missing value for {context}")));
            }
            cmds.push(Cmd { args, pos: cmd_pos });
            match self.peek() {
                Some(Tok::Pipe) => {
                    self.at += 1;
                }
                Some(Tok::Close) => {
                    self.at += 1;
                    break;
                }
                _ => break, // `)`: the caller consumes it.
            }
        }
        Ok(Pipe {
            decl,
            assign,
            cmds,
            pos,
        })
    }

    fn fields(&mut self) -> Vec<String> {
        let mut chain = Vec::new();
        while let Some(Tok::Chain(name)) = self.peek() {
            chain.push(name.clone());
            self.at += 1;
        }
        chain
    }

    fn operand(&mut self, context: &str) -> Result<Arg, TemplateError> {
        let pos = self.pos();
        let token = self.next();
        Ok(match token {
            Some(Tok::Ident(name)) => Arg::Ident(name),
            Some(Tok::Dot) => Arg::Field(Vec::new()),
            Some(Tok::Field(name)) => {
                let mut chain = vec![name];
                chain.extend(self.fields());
                Arg::Field(chain)
            }
            Some(Tok::Var(name)) => Arg::Var(name, self.fields()),
            Some(Tok::LParen) => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return Err(self.error_at(pos, format!("nested more than {MAX_NESTING} levels deep")));
                }
                let inner = self.pipe(context);
                self.depth -= 1;
                let inner = inner?;
                match self.next() {
                    Some(Tok::RParen) => {}
                    other => {
                        return Err(self.error_at(
                            pos,
                            format!("unclosed left paren: found {}", describe(other.as_ref())),
                        ));
                    }
                }
                Arg::Sub(Box::new(inner), self.fields())
            }
            Some(Tok::Str(text)) => Arg::Str(text),
            Some(Tok::Char(c)) => Arg::Int(i64::from(u32::from(c))),
            Some(Tok::Int(v)) => Arg::Int(v),
            Some(Tok::Float(v)) => Arg::Float(v),
            Some(Tok::Bool(v)) => Arg::Bool(v),
            Some(Tok::Nil) => Arg::Nil,
            other => {
                return Err(self.error_at(
                    pos,
                    format!("unexpected {} in {context}", describe(other.as_ref())),
                ));
            }
        })
    }
}

fn describe(token: Option<&Tok>) -> String {
    match token {
        None => "EOF".into(),
        Some(Tok::Close) => "\"}}\"".into(),
        Some(Tok::Open) => "\"{{\"".into(),
        Some(Tok::RParen) => "\")\"".into(),
        Some(Tok::LParen) => "\"(\"".into(),
        Some(Tok::Pipe) => "\"|\"".into(),
        Some(Tok::Comma) => "\",\"".into(),
        Some(Tok::Declare) => "\":=\"".into(),
        Some(Tok::Assign) => "\"=\"".into(),
        Some(Tok::Ident(word)) => format!("<{word}>"),
        Some(Tok::Str(text)) => format!("{text:?}"),
        Some(other) => format!("{other:?}"),
    }
}
